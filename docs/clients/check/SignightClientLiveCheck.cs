// A live check of docs/clients/unity/SignightClient.cs against a running Signight server (auth off),
// through a TCP proxy this program can cut (a drop: 1006, then back-off and Resume).
// Not for Unity: a console program for mono (docs/clients.md, "What was checked"). Usage:
//   mcs -langversion:7 -out:LiveCheck.exe ../unity/SignightClient.cs SignightClientLiveCheck.cs
//   mono LiveCheck.exe SERVER_PORT
using System; using System.Collections.Generic; using System.Net; using System.Net.Sockets;
using System.Threading; using System.Threading.Tasks; using Signight;

static class Live {
  static readonly List<TcpClient> Conns = new List<TcpClient>();
  static int StartProxy(int target) {
    var listener = new TcpListener(IPAddress.Loopback, 0); listener.Start();
    Task.Run(async () => { while (true) {
      var c = await listener.AcceptTcpClientAsync(); var s = new TcpClient(); await s.ConnectAsync("127.0.0.1", target);
      lock (Conns) { Conns.Add(c); Conns.Add(s); }
      Pump(c, s); Pump(s, c); } });
    return ((IPEndPoint)listener.LocalEndpoint).Port;
  }
  static void Pump(TcpClient from, TcpClient to) {
    Task.Run(async () => { var buf = new byte[65536]; try { while (true) { int n = await from.GetStream().ReadAsync(buf, 0, buf.Length); if (n == 0) break; await to.GetStream().WriteAsync(buf, 0, n); } } catch (Exception) { } try { to.Close(); } catch (Exception) { } });
  }
  static void Cut() { lock (Conns) { foreach (var c in Conns) { try { c.Client.LingerState = new LingerOption(true, 0); c.Close(); } catch (Exception) { } } Conns.Clear(); } }

  static SignightClient A, B;
  static bool Until(string what, Func<bool> cond, double seconds = 10) {
    var end = DateTime.UtcNow.AddSeconds(seconds);
    while (DateTime.UtcNow < end) { A.Poll(); if (B != null) B.Poll(); if (cond()) { Console.WriteLine("ok   " + what); return true; } Thread.Sleep(10); }
    Console.WriteLine("FAIL " + what); Environment.Exit(1); return false;
  }

  static int Main(string[] args) {
    int port = int.Parse(args[0]);
    int proxy = StartProxy(port);
    string room = "cs-smoke-" + new Random().Next(100000);
    A = new SignightClient(new Uri("ws://127.0.0.1:" + proxy + "/ws/"), "Ada", "#FF0000");
    B = new SignightClient(new Uri("ws://127.0.0.1:" + port + "/ws/"), "플레이어1");
    var log = new List<string>();
    A.StatusChanged += (s, c, a) => { log.Add(s + " " + c + " " + a); Console.WriteLine("  A status " + s + " " + c + " " + a); };
    A.Error += f => Console.WriteLine("  A error " + Json.Write(f));
    B.Error += f => Console.WriteLine("  B error " + Json.Write(f));
    var aChats = new List<string>(); A.Chat += f => aChats.Add((string)f["message"]);
    var bJoined = new List<string>(); B.PlayerJoined += f => bJoined.Add((string)f["client_id"]);
    var bLeft = new List<string>(); B.PlayerLeft += f => bLeft.Add((string)f["client_id"]);
    var bStates = 0; B.State += (id, st, t) => bStates++;
    int aWelcomes = 0; A.Welcome += f => aWelcomes++;
    Dictionary<string, object> resumed = null; A.Resumed += f => resumed = f;

    A.Join(room, SignightClient.PlayerState(new double[] { 4, 0, -2 }, new double[] { 1, 0, 0, 0 }, "idle"));
    Until("A gets its Welcome", () => aWelcomes == 1 && A.ClientId != null && A.Seq.HasValue && A.TickRate > 0);
    B.Join(room);
    Until("B joins; A sees PlayerJoined", () => B.ClientId != null && A.Players.Count == 2);
    var chat = A.SendChat("hello\r\nfrom C#");
    Until("A's chat resolves with its echo (\\r\\n became \\n)", () => chat.IsCompleted);
    if (chat.IsFaulted || (string)chat.Result["message"] != "hello\nfrom C#") { Console.WriteLine("FAIL chat " + chat.Exception); return 1; }
    for (int i = 0; i < 40; i++) { A.Update(SignightClient.PlayerState(new double[] { 4 + i * 0.1, 0, -2 }, new double[] { 1, 0, 0, 0 })); A.Poll(); B.Poll(); Thread.Sleep(16); }
    Until("B gets A's states (StateUpdate)", () => bStates > 0);
    double[] p, r;
    Until("B interpolates A", () => B.Interpolator.Sample(A.ClientId, B.ServerNowMs(), out p, out r));
    Until("A measured a Pong", () => A.RttMs > 0 || A.ClockOffsetMs != 0);
    long seqBefore = A.Seq.Value;
    Cut();
    Until("A sees the drop (reconnecting 1006 backoff)", () => log.Contains("reconnecting 1006 backoff"));
    var bChat = B.SendChat("while you were away");
    Until("B's chat while A is away", () => bChat.IsCompleted && !bChat.IsFaulted);
    Until("A resumes, recovered, and gets the missed chat", () => resumed != null && (bool)resumed["recovered"] && aChats.Contains("while you were away"), 30);
    Console.WriteLine("  missed: " + ((List<object>)resumed["missed"]).Count + ", B saw A leave: " + bLeft.Count + ", seq " + seqBefore + " -> " + A.Seq);
    if (bLeft.Count != 0) { Console.WriteLine("FAIL B saw a PlayerLeft for a resumed player"); return 1; }
    A.Close();
    Until("A closes with 1000; B sees PlayerLeft", () => bLeft.Contains(A.ClientId ?? "") || bLeft.Count == 1);
    Console.WriteLine("ALL OK");
    return 0;
  }
}
