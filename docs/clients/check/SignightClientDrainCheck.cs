// A live check of ../unity/SignightClient.cs through a drain: two servers sharing one Redis and
// one MongoDB; server 1 gets SIGTERM (close 1001, action resume), both clients resume on server 2.
// Not for Unity. Usage:
//   mcs -langversion:7 -out:DrainCheck.exe ../unity/SignightClient.cs SignightClientDrainCheck.cs
//   mono DrainCheck.exe SERVER1_PORT SERVER1_PID SERVER2_PORT
using System; using System.Collections.Generic; using System.Diagnostics; using System.Net; using System.Net.Sockets;
using System.Threading; using System.Threading.Tasks; using Signight;
static class Drain {
  static volatile int Target;
  static int StartProxy() {
    var listener = new TcpListener(IPAddress.Loopback, 0); listener.Start();
    Task.Run(async () => { while (true) { var c = await listener.AcceptTcpClientAsync(); var s = new TcpClient();
      try { await s.ConnectAsync("127.0.0.1", Target); } catch (Exception) { c.Close(); continue; } Pump(c, s); Pump(s, c); } });
    return ((IPEndPoint)listener.LocalEndpoint).Port;
  }
  static void Pump(TcpClient from, TcpClient to) { Task.Run(async () => { var buf = new byte[65536]; try { while (true) { int n = await from.GetStream().ReadAsync(buf, 0, buf.Length); if (n == 0) break; await to.GetStream().WriteAsync(buf, 0, n); } } catch (Exception) { } try { to.Close(); } catch (Exception) { } }); }
  static SignightClient A, B;
  static void Until(string what, Func<bool> cond, double seconds = 15) { var end = DateTime.UtcNow.AddSeconds(seconds);
    while (DateTime.UtcNow < end) { A.Poll(); B.Poll(); if (cond()) { Console.WriteLine("ok   " + what); return; } Thread.Sleep(10); }
    Console.WriteLine("FAIL " + what); Environment.Exit(1); }
  static int Main(string[] a) {
    int port1 = int.Parse(a[0]), pid1 = int.Parse(a[1]), port2 = int.Parse(a[2]);
    Target = port1; int proxy = StartProxy(); var url = new Uri("ws://127.0.0.1:" + proxy + "/ws/");
    string room = "cs-drain-" + new Random().Next(100000);
    A = new SignightClient(url, "Ada"); B = new SignightClient(url, "Bob");
    var log = new List<string>(); A.StatusChanged += (s, c, act) => { log.Add(s + " " + c + " " + act); Console.WriteLine("  A " + s + " " + c + " " + act); };
    var bLeft = 0; B.PlayerLeft += f => bLeft++;
    var aResumed = new List<bool>(); A.Resumed += f => aResumed.Add((bool)f["recovered"]);
    var bResumed = new List<bool>(); B.Resumed += f => bResumed.Add((bool)f["recovered"]);
    var aChats = new List<string>(); A.Chat += f => aChats.Add((string)f["message"]);
    A.Join(room); B.Join(room);
    Until("both in the room", () => A.Players.Count == 2 && B.Players.Count == 2);
    Target = port2;
    Process.Start("kill", "-TERM " + pid1).WaitForExit();
    Until("A closed with 1001, action resume", () => log.Contains("reconnecting 1001 resume"));
    Until("both resumed on server 2, recovered", () => aResumed.Count == 1 && aResumed[0] && bResumed.Count == 1 && bResumed[0], 30);
    B.SendChat("after the drain");
    Until("a chat on server 2 reaches A", () => aChats.Contains("after the drain"));
    if (bLeft != 0) { Console.WriteLine("FAIL B saw PlayerLeft"); return 1; }
    Console.WriteLine("ALL OK"); return 0;
  }
}
