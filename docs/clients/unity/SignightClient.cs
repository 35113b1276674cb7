// A compact client of the Signight game socket, protocol 1.1 (docs/protocol.md), for Unity 2021+
// and plain .NET. It uses no UnityEngine type, so it compiles outside Unity (docs/clients.md says
// with which compiler); SignightBehaviour.cs shows it in a MonoBehaviour.
//
// Threading: the socket's receive and send loops run on the thread pool and only queue what they
// get; every protocol decision, and every event, happens in Poll(), which the game calls once a
// frame on its main thread. JSON: the small reader and writer at the end of this file (frames are
// Dictionary<string, object>, arrays List<object>, integers long, other numbers double), because
// JsonUtility cannot tell a missing field from a default one, hold Ping's any-JSON `t`, or read
// Resumed.missed, an array of different frames.
//
// Not a WebGL client: ClientWebSocket does not exist in Unity's WebGL player (use the JS client
// through a .jslib there).

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Net.WebSockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Signight
{
    /// <summary>The close-code table of docs/protocol.md (the schema's x-close-codes, plus 1006).</summary>
    public static class CloseActions
    {
        static readonly Dictionary<int, string> Table = new Dictionary<int, string>
        {
            {1000, "stop"}, {1001, "resume"}, {1006, "backoff"}, {1007, "fix"}, {1008, "backoff"},
            {1009, "fix"}, {1011, "backoff"}, {1013, "backoff"}, {4401, "refresh_token"},
            {4408, "stop"}, {4409, "backoff"}, {4410, "stop"}, {4429, "backoff"}, {4503, "stop"},
        };

        /// <summary>A code the table does not name (1005, a proxy's own) is a transient failure.</summary>
        public static string For(int code)
        {
            string action;
            return Table.TryGetValue(code, out action) ? action : "backoff";
        }

        /// <summary>Full jitter: uniform in [0, min(20 s, 0.5 s × 2^attempt)).</summary>
        public static double BackoffSeconds(int attempt, Random random)
        {
            return random.NextDouble() * Math.Min(20.0, 0.5 * Math.Pow(2, Math.Max(0, attempt)));
        }
    }

    /// <summary>An Error frame that refused a message of ours (or "closed": the socket ended for good).</summary>
    public sealed class SignightException : Exception
    {
        public readonly string Code;
        public readonly string Ref;
        public SignightException(string code, string message, string reference)
            : base(code + ": " + message) { Code = code; Ref = reference; }
    }

    public sealed class SignightClient
    {
        // --- configuration -----------------------------------------------------------------------
        public readonly Uri Url;
        public string Name;
        public string Color;                       // "#RRGGBB" or null
        /// <summary>A JWT access token, or null when the server does not require one.</summary>
        public string Token;
        /// <summary>Called for a fresh token on close 4401 (and once after a handshake that failed).</summary>
        public Func<Task<string>> GetToken;
        /// <summary>false: "Authorization: Bearer" (native clients); true: the ["bearer", token] subprotocol.</summary>
        public bool TokenAsSubprotocol;
        public double PingSeconds = 15;

        // --- what the client knows (read these) ------------------------------------------------
        public string Status { get; private set; }   // connecting, open, reconnecting, resumed, closed
        public string ClientId { get; private set; }
        public string RoomId { get; private set; }
        public long? Seq { get; private set; }        // the newest event seq received
        public string ResumeToken { get; private set; }
        public int TickRate { get; private set; }
        public Dictionary<string, object> Limits { get; private set; }
        public readonly Dictionary<string, Dictionary<string, object>> Players =
            new Dictionary<string, Dictionary<string, object>>();
        public double RttMs { get; private set; }
        public double ClockOffsetMs { get; private set; }  // server clock − this clock
        public readonly Interpolator Interpolator = new Interpolator();

        // --- events, raised from Poll() ------------------------------------------------------------
        public event Action<Dictionary<string, object>> Welcome, Resumed, PlayerJoined, PlayerLeft, Chat, Error;
        /// <summary>(client_id, state, server_time) of each remote player in a StateUpdate.</summary>
        public event Action<string, Dictionary<string, object>, long> State;
        /// <summary>(status, close code or 0, action or null).</summary>
        public event Action<string, int, string> StatusChanged;
        /// <summary>(expected seq, received seq): an event may be missed; Join the room again for a fresh view.</summary>
        public event Action<long, long> Gap;

        // --- internals -----------------------------------------------------------------------------
        sealed class Inbound { public int Gen; public string Text; public bool Opened; public bool Closed; public int Code; public string Reason; }
        sealed class PendingChat { public string Message; public TaskCompletionSource<Dictionary<string, object>> Done; public int SentGen = -1; }

        readonly ConcurrentQueue<Inbound> _inbox = new ConcurrentQueue<Inbound>();
        readonly Dictionary<string, PendingChat> _chats = new Dictionary<string, PendingChat>();
        readonly Dictionary<string, Action<Dictionary<string, object>>> _handlers;
        readonly Random _random = new Random();
        readonly string _idPrefix = Guid.NewGuid().ToString("N").Substring(0, 8);
        readonly List<double[]> _pongs = new List<double[]>();   // {rtt, offset}
        ClientWebSocket _ws;
        BlockingCollection<string> _outbox;
        int _gen, _idCount, _attempt;
        bool _opened, _freshTokenTried, _needToken, _inRoom;
        string _wantRoom;                          // the room to be in (null: none)
        string _requestId;                         // the Join or Resume awaiting its answer
        bool _requestIsResume;
        Dictionary<string, object> _pendingState, _lastState;
        DateTime _reconnectAt = DateTime.MaxValue, _nextUpdate, _nextPing, _lastReceived, _retryAt = DateTime.MaxValue;
        DateTime? _lostAt;
        Task<string> _tokenTask;

        public SignightClient(Uri url, string name, string color = null)
        {
            Url = url; Name = name; Color = color; Status = "closed";
            _handlers = new Dictionary<string, Action<Dictionary<string, object>>>
            {
                {"Welcome", OnWelcome}, {"Resumed", OnResumed}, {"PlayerJoined", OnEvent},
                {"PlayerLeft", OnEvent}, {"Chat", OnEvent}, {"StateUpdate", OnStateUpdate},
                {"Pong", OnPong}, {"Error", OnError},
            };
        }

        // --- the API ---------------------------------------------------------------------------------

        /// <summary>Enter a room (at `state`, else the origin). With a saved resume token and seq it
        /// sends Resume instead (a Join if the server refuses the token).</summary>
        public void Join(string roomId, Dictionary<string, object> state = null,
                         string resumeToken = null, long lastSeq = 0)
        {
            _wantRoom = roomId;
            _lastState = state;
            if (resumeToken != null) { ResumeToken = resumeToken; Seq = lastSeq; _lostAt = null; }
            if (IsOpen) SendJoinOrResume(); else EnsureConnected();
        }

        /// <summary>The player's latest state; call it every frame: one Update per tick is sent.</summary>
        public void Update(Dictionary<string, object> state) { _pendingState = state; }

        /// <summary>Completes with the stored Chat frame (the echo whose ref is its id), or fails with
        /// a SignightException. Without an echo before a drop it is sent again with the same id.</summary>
        public Task<Dictionary<string, object>> SendChat(string message, string id = null)
        {
            id = id ?? NewId("c");
            var pending = new PendingChat { Message = message, Done = new TaskCompletionSource<Dictionary<string, object>>() };
            _chats[id] = pending;
            if (_inRoom) SendChatFrame(id, pending);
            return pending.Done.Task;
        }

        /// <summary>Leave the room at once (the others get PlayerLeft); the socket stays open.</summary>
        public void Leave()
        {
            if (IsOpen && (_inRoom || _requestId != null)) Send(Obj("type", "Leave"));
            _wantRoom = null; _requestId = null;
            ClearRoom();
        }

        /// <summary>Close with 1000: the player leaves at once; no reconnection.</summary>
        public void Close()
        {
            var ws = _ws;
            Stop(1000, "closed by the client");
            if (ws != null)
                ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None)
                  .ContinueWith(t => { var unused = t.Exception; });
        }

        /// <summary>The server's clock now, Unix ms (feed it to Interpolator.Sample).</summary>
        public double ServerNowMs() { return NowMs() + ClockOffsetMs; }

        /// <summary>Call once a frame: handles what arrived, sends the held Update, pings, reconnects.</summary>
        public void Poll()
        {
            Inbound item;
            while (_inbox.TryDequeue(out item))
            {
                if (item.Gen != _gen) continue;          // an older socket's
                if (item.Opened) OnOpen();
                else if (item.Closed) OnClose(item.Code, item.Reason);
                else OnText(item.Text);
            }
            var now = DateTime.UtcNow;
            if (_tokenTask != null && _tokenTask.IsCompleted) TokenArrived();
            if (now >= _reconnectAt) { _reconnectAt = DateTime.MaxValue; Connect(); }
            if (now >= _retryAt) { _retryAt = DateTime.MaxValue; if (IsOpen && _wantRoom != null) SendJoinOrResume(); }
            if (!IsOpen) return;
            if ((now - _lastReceived).TotalSeconds > 2 * PingSeconds) { Abandon("no answer to two pings"); return; }
            if (now >= _nextPing) Ping();
            if (_inRoom && _pendingState != null && now >= _nextUpdate)
            {
                Send(Obj("type", "Update", "state", _pendingState));
                _lastState = _pendingState; _pendingState = null;
                _nextUpdate = now.AddSeconds(1.0 / (TickRate > 0 ? TickRate : 20));
            }
        }

        // --- the socket ------------------------------------------------------------------------------

        bool IsOpen { get { return _ws != null && _opened; } }

        void EnsureConnected()
        {
            if (_ws != null || _reconnectAt != DateTime.MaxValue || _tokenTask != null) return;
            _attempt = 0;
            SetStatus("connecting", 0, null);
            Connect();
        }

        void Connect()
        {
            if (_needToken && GetToken != null) { _tokenTask = GetToken(); return; }
            var gen = ++_gen;
            var ws = new ClientWebSocket();
            if (Token != null)
            {
                if (TokenAsSubprotocol) { ws.Options.AddSubProtocol("bearer"); ws.Options.AddSubProtocol(Token); }
                else ws.Options.SetRequestHeader("Authorization", "Bearer " + Token);
            }
            _ws = ws; _opened = false;
            _outbox = new BlockingCollection<string>();
            var outbox = _outbox;
            Task.Run(() => RunSocket(ws, outbox, gen));
        }

        void TokenArrived()
        {
            var task = _tokenTask; _tokenTask = null;
            if (task.IsFaulted || task.IsCanceled || task.Result == null) { Stop(4401, "no fresh token"); return; }
            Token = task.Result; _needToken = false;
            Connect();
        }

        async Task RunSocket(ClientWebSocket ws, BlockingCollection<string> outbox, int gen)
        {
            bool opened = false;
            try
            {
                using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
                    await ws.ConnectAsync(Url, timeout.Token).ConfigureAwait(false);
                opened = true;
                _inbox.Enqueue(new Inbound { Gen = gen, Opened = true });
                var sending = Task.Run(() => SendLoop(ws, outbox));
                var buffer = new byte[16384];
                var message = new MemoryStream();
                while (true)
                {
                    var result = await ws.ReceiveAsync(new ArraySegment<byte>(buffer), CancellationToken.None).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        int code = ws.CloseStatus.HasValue ? (int)ws.CloseStatus.Value : 1005;
                        _inbox.Enqueue(new Inbound { Gen = gen, Closed = true, Code = code, Reason = ws.CloseStatusDescription });
                        try { await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).ConfigureAwait(false); }
                        catch (Exception) { }
                        break;
                    }
                    message.Write(buffer, 0, result.Count);
                    if (!result.EndOfMessage) continue;
                    if (result.MessageType == WebSocketMessageType.Text)
                        _inbox.Enqueue(new Inbound { Gen = gen, Text = Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length) });
                    message.SetLength(0);
                }
                outbox.CompleteAdding();
                await sending.ConfigureAwait(false);
            }
            catch (Exception error)
            {
                // A drop, a refused handshake (an HTTP 401/403 behind the mesh) or our Abandon: 1006.
                outbox.CompleteAdding();
                _inbox.Enqueue(new Inbound { Gen = gen, Closed = true, Code = 1006, Reason = (opened ? "" : "handshake: ") + error.Message });
            }
            finally { ws.Dispose(); }
        }

        static async Task SendLoop(ClientWebSocket ws, BlockingCollection<string> outbox)
        {
            // ClientWebSocket takes one SendAsync at a time: one loop per socket sends them in order.
            try
            {
                foreach (var text in outbox.GetConsumingEnumerable())
                {
                    var bytes = Encoding.UTF8.GetBytes(text);
                    await ws.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
                }
            }
            catch (Exception) { ws.Abort(); }    // the receive loop reports the close
        }

        void Send(Dictionary<string, object> message)
        {
            if (!IsOpen) return;
            try { _outbox.Add(Json.Write(message)); } catch (InvalidOperationException) { }
        }

        void Abandon(string reason)
        {
            var ws = _ws;
            _gen++;                                    // its callbacks are ignored from here on
            ws.Abort();
            OnClose(1006, reason);
        }

        void OnOpen()
        {
            _opened = true; _freshTokenTried = false;
            _lastReceived = DateTime.UtcNow; _pongs.Clear();
            if (_wantRoom != null) SendJoinOrResume(); else SetStatus("open", 0, null);
            Ping();
        }

        void OnClose(int code, string reason)
        {
            bool opened = _opened;
            _ws = null; _opened = false;
            if (_inRoom && _lostAt == null) _lostAt = DateTime.UtcNow;
            _inRoom = false; _requestId = null;
            var action = CloseActions.For(code);
            if (action == "stop" || action == "fix" || (action == "refresh_token" && GetToken == null))
            {
                Stop(code, reason);
                return;
            }
            if (action == "refresh_token") _needToken = true;
            else if (code == 1006 && !opened && GetToken != null && !_freshTokenTried)
            {
                _needToken = true; _freshTokenTried = true;   // behind the mesh a bad token is a failed handshake
            }
            double delay = action == "resume" ? _random.NextDouble()          // a drain: 0–1 s
                         : action == "reconnect" && _attempt == 0 ? 0
                         : CloseActions.BackoffSeconds(_attempt, _random);
            _attempt++;
            SetStatus("reconnecting", code, action);
            _reconnectAt = DateTime.UtcNow.AddSeconds(delay);
        }

        void Stop(int code, string reason)
        {
            _gen++;
            _ws = null; _opened = false; _wantRoom = null; _requestId = null;
            _reconnectAt = DateTime.MaxValue; _retryAt = DateTime.MaxValue; _lostAt = null; _attempt = 0;
            _needToken = false; _tokenTask = null;
            ClearRoom();
            var chats = new List<KeyValuePair<string, PendingChat>>(_chats);
            _chats.Clear();
            SetStatus("closed", code, CloseActions.For(code));
            foreach (var chat in chats)
                chat.Value.Done.TrySetException(new SignightException("closed", "socket closed (" + code + " " + reason + ")", chat.Key));
        }

        void ClearRoom()
        {
            _inRoom = false; RoomId = null; Seq = null; ResumeToken = null;
            Players.Clear(); Interpolator.Clear(); _pendingState = null;
        }

        // --- joining and resuming ------------------------------------------------------------------

        bool CanResume()
        {
            if (ResumeToken == null) return false;
            double grace = Limits != null ? Json.Double(Limits["resume_grace"]) : 20;
            return _lostAt == null || (DateTime.UtcNow - _lostAt.Value).TotalSeconds < grace;
        }

        void SendJoinOrResume()
        {
            _requestIsResume = CanResume();
            _requestId = NewId(_requestIsResume ? "r" : "j");
            if (_requestIsResume)
            {
                Send(Obj("type", "Resume", "id", _requestId, "resume_token", ResumeToken, "last_seq", Seq ?? 0L));
                return;
            }
            var join = Obj("type", "Join", "id", _requestId, "room_id", _wantRoom, "name", Name);
            if (Color != null) join["color"] = Color;
            if (_lastState != null) join["state"] = _lastState;   // back where it was
            Send(join);
        }

        void EnterRoom(Dictionary<string, object> frame)
        {
            _requestId = null; _inRoom = true; _attempt = 0; _lostAt = null;
            ClientId = (string)frame["client_id"];
            RoomId = (string)frame["room_id"];
            ResumeToken = (string)frame["resume_token"];
            TickRate = (int)Json.Long(frame["tick_rate"]);
            Limits = (Dictionary<string, object>)frame["limits"];
            if (_pongs.Count == 0) ClockOffsetMs = Json.Double(frame["server_time"]) - NowMs();
        }

        void SetWorld(Dictionary<string, object> frame)
        {
            Players.Clear(); Interpolator.Clear();
            long time = Json.Long(frame["server_time"]);
            foreach (Dictionary<string, object> entry in (List<object>)frame["room_state"])
            {
                var id = (string)entry["client_id"];
                var state = (Dictionary<string, object>)entry["state"];
                Players[id] = state;
                if (id != ClientId) Interpolator.Push(id, time, state);
            }
        }

        void AfterEntering()
        {
            foreach (var chat in _chats)                    // not yet sent on this socket
                if (chat.Value.SentGen != _gen) SendChatFrame(chat.Key, chat.Value);
        }

        void OnWelcome(Dictionary<string, object> frame)
        {
            EnterRoom(frame);
            Seq = Json.Long(frame["seq"]);
            SetWorld(frame);
            SetStatus("open", 0, null);
            if (Welcome != null) Welcome(frame);
            AfterEntering();
        }

        void OnResumed(Dictionary<string, object> frame)
        {
            EnterRoom(frame);
            if ((bool)frame["recovered"])
            {
                foreach (Dictionary<string, object> missed in (List<object>)frame["missed"]) OnEvent(missed);
                Seq = Math.Max(Seq ?? 0, Json.Long(frame["seq"]));
            }
            else Seq = Json.Long(frame["seq"]);            // a new world: room_state and chat_history
            SetWorld(frame);
            SetStatus("resumed", 0, null);
            if (Resumed != null) Resumed(frame);
            AfterEntering();
        }

        /// <summary>PlayerJoined, PlayerLeft, Chat: live or from Resumed.missed; gaps and duplicates by seq.</summary>
        void OnEvent(Dictionary<string, object> frame)
        {
            var type = (string)frame["type"];
            object reference;
            if (type == "Chat" && frame.TryGetValue("ref", out reference) && reference is string)
            {
                PendingChat pending;
                if (_chats.TryGetValue((string)reference, out pending))
                {
                    _chats.Remove((string)reference);
                    pending.Done.TrySetResult(frame);      // a retry's answer may carry an old seq
                }
            }
            if ((string)frame["room_id"] != RoomId) return;
            long seq = Json.Long(frame["seq"]);
            if (Seq.HasValue && seq <= Seq.Value) return;  // a duplicate
            if (Seq.HasValue && seq > Seq.Value + 1 && Gap != null) Gap(Seq.Value + 1, seq);
            Seq = seq;
            var clientId = (string)frame["client_id"];
            if (type == "PlayerJoined")
            {
                Players[clientId] = (Dictionary<string, object>)frame["state"];
                if (PlayerJoined != null) PlayerJoined(frame);
            }
            else if (type == "PlayerLeft")
            {
                Players.Remove(clientId); Interpolator.Remove(clientId);
                if (PlayerLeft != null) PlayerLeft(frame);
            }
            else if (Chat != null) Chat(frame);
        }

        void OnStateUpdate(Dictionary<string, object> frame)
        {
            if ((string)frame["room_id"] != RoomId) return;
            long time = Json.Long(frame["server_time"]);
            foreach (Dictionary<string, object> entry in (List<object>)frame["players"])
            {
                var id = (string)entry["client_id"];
                var state = (Dictionary<string, object>)entry["state"];
                Players[id] = state;
                if (id == ClientId) continue;              // our own: ignore, or reconcile
                Interpolator.Push(id, time, state);
                if (State != null) State(id, state, time);
            }
        }

        void OnError(Dictionary<string, object> frame)
        {
            var code = (string)frame["code"];
            object value;
            var reference = frame.TryGetValue("ref", out value) ? value as string : null;
            PendingChat chat;
            if (reference != null && _chats.TryGetValue(reference, out chat))
            {
                _chats.Remove(reference);
                chat.Done.TrySetException(new SignightException(code, (string)frame["message"], reference));
            }
            else if (reference != null && reference == _requestId)
            {
                if (_requestIsResume && code == "resume_failed") { ResumeToken = null; SendJoinOrResume(); }
                else if (code == "unavailable" || code == "rate_limited")
                    _retryAt = DateTime.UtcNow.AddSeconds(CloseActions.BackoffSeconds(_attempt++, _random));
                else { _requestId = null; _wantRoom = null; ClearRoom(); }   // room_full, room_closed, invalid_message …
            }
            if (Error != null) Error(frame);
        }

        // --- keepalive and clock -------------------------------------------------------------------

        void Ping()
        {
            Send(Obj("type", "Ping", "t", (long)NowMs()));
            _nextPing = DateTime.UtcNow.AddSeconds(PingSeconds);
        }

        void OnPong(Dictionary<string, object> frame)
        {
            if (!(frame["t"] is long)) return;
            double t0 = (long)frame["t"], t1 = NowMs();
            var sample = new[] { t1 - t0, Json.Double(frame["server_time"]) - (t0 + t1) / 2 };
            _pongs.Add(sample);
            if (_pongs.Count > 5) _pongs.RemoveAt(0);
            var best = _pongs[0];
            foreach (var p in _pongs) if (p[0] < best[0]) best = p;
            RttMs = sample[0]; ClockOffsetMs = best[1];
        }

        // --- helpers -----------------------------------------------------------------------------

        void OnText(string text)
        {
            _lastReceived = DateTime.UtcNow;
            Dictionary<string, object> frame;
            try { frame = Json.Read(text) as Dictionary<string, object>; }
            catch (FormatException) { return; }
            object type;
            Action<Dictionary<string, object>> handler;
            if (frame != null && frame.TryGetValue("type", out type) && type is string
                && _handlers.TryGetValue((string)type, out handler))
                handler(frame);
        }

        void SendChatFrame(string id, PendingChat pending)
        {
            Send(Obj("type", "Chat", "id", id, "message", pending.Message));
            pending.SentGen = _gen;
        }

        void SetStatus(string status, int code, string action)
        {
            Status = status;
            if (StatusChanged != null) StatusChanged(status, code, action);
        }

        string NewId(string kind) { return kind + "-" + _idPrefix + "-" + (++_idCount); }

        static double NowMs() { return (DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalMilliseconds; }

        /// <summary>Obj("type", "Ping", "t", 1): a frame from key, value pairs.</summary>
        public static Dictionary<string, object> Obj(params object[] pairs)
        {
            var result = new Dictionary<string, object>();
            for (int i = 0; i < pairs.Length; i += 2) result[(string)pairs[i]] = pairs[i + 1];
            return result;
        }

        /// <summary>A player state: position [x, y, z], rotation [w, x, y, z] (note: w first).</summary>
        public static Dictionary<string, object> PlayerState(double[] position, double[] rotation, string animation = null)
        {
            var state = Obj("position", new List<object> { position[0], position[1], position[2] },
                            "rotation", new List<object> { rotation[0], rotation[1], rotation[2], rotation[3] });
            if (animation != null) state["animation"] = animation;
            return state;
        }
    }

    /// <summary>Remote players' positions and rotations by server time, sampled `DelayMs` behind.</summary>
    public sealed class Interpolator
    {
        public double DelayMs = 100;               // two ticks at 20 Hz
        sealed class Snapshot { public long Time; public double[] Position, Rotation; }
        readonly Dictionary<string, List<Snapshot>> _buffers = new Dictionary<string, List<Snapshot>>();

        public void Push(string clientId, long serverTime, Dictionary<string, object> state)
        {
            List<Snapshot> buffer;
            if (!_buffers.TryGetValue(clientId, out buffer)) _buffers[clientId] = buffer = new List<Snapshot>();
            if (buffer.Count > 0 && buffer[buffer.Count - 1].Time >= serverTime) return;
            buffer.Add(new Snapshot { Time = serverTime, Position = Json.Numbers(state["position"]), Rotation = Json.Numbers(state["rotation"]) });
            while (buffer.Count > 2 && buffer[1].Time < serverTime - 1000) buffer.RemoveAt(0);
        }

        /// <summary>false if nothing was pushed; else position [x, y, z] and rotation [w, x, y, z] at now − DelayMs.</summary>
        public bool Sample(string clientId, double serverNowMs, out double[] position, out double[] rotation)
        {
            position = rotation = null;
            List<Snapshot> buffer;
            if (!_buffers.TryGetValue(clientId, out buffer) || buffer.Count == 0) return false;
            double at = serverNowMs - DelayMs;
            int i = 1;
            while (i < buffer.Count && buffer[i].Time < at) i++;
            if (at <= buffer[0].Time || i == buffer.Count)
            {
                var held = at <= buffer[0].Time ? buffer[0] : buffer[buffer.Count - 1];
                position = held.Position; rotation = held.Rotation;
                return true;
            }
            Snapshot a = buffer[i - 1], b = buffer[i];
            double alpha = (at - a.Time) / (b.Time - a.Time);
            position = new double[3];
            for (int k = 0; k < 3; k++) position[k] = a.Position[k] + (b.Position[k] - a.Position[k]) * alpha;
            rotation = Nlerp(a.Rotation, b.Rotation, alpha);
            return true;
        }

        public void Remove(string clientId) { _buffers.Remove(clientId); }
        public void Clear() { _buffers.Clear(); }

        // Normalized lerp the shorter way round: close enough to slerp between 50 ms ticks.
        static double[] Nlerp(double[] a, double[] b, double alpha)
        {
            double dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3];
            double sign = dot < 0 ? -1 : 1, length = 0;
            var q = new double[4];
            for (int k = 0; k < 4; k++) { q[k] = a[k] * (1 - alpha) + sign * b[k] * alpha; length += q[k] * q[k]; }
            length = Math.Sqrt(length);
            if (length == 0) return new double[] { 1, 0, 0, 0 };
            for (int k = 0; k < 4; k++) q[k] /= length;
            return q;
        }
    }

    /// <summary>Just enough JSON: objects are Dictionary&lt;string, object&gt;, arrays List&lt;object&gt;,
    /// integers long (seq needs 64 bits), other numbers double, plus string, bool and null.</summary>
    public static class Json
    {
        public static double Double(object value) { return Convert.ToDouble(value, CultureInfo.InvariantCulture); }
        public static long Long(object value) { return Convert.ToInt64(value, CultureInfo.InvariantCulture); }

        public static double[] Numbers(object array)
        {
            var list = (List<object>)array;
            var result = new double[list.Count];
            for (int i = 0; i < list.Count; i++) result[i] = Double(list[i]);
            return result;
        }

        public static string Write(object value)
        {
            var output = new StringBuilder();
            Write(value, output);
            return output.ToString();
        }

        static void Write(object value, StringBuilder output)
        {
            if (value == null) output.Append("null");
            else if (value is string) WriteString((string)value, output);
            else if (value is bool) output.Append((bool)value ? "true" : "false");
            else if (value is long || value is int) output.Append(Convert.ToInt64(value).ToString(CultureInfo.InvariantCulture));
            else if (value is double || value is float)
            {
                double number = Convert.ToDouble(value);
                if (double.IsNaN(number) || double.IsInfinity(number)) throw new ArgumentException("JSON has no NaN or Infinity");
                output.Append(number.ToString("R", CultureInfo.InvariantCulture));
            }
            else if (value is Dictionary<string, object>)
            {
                output.Append('{');
                bool first = true;
                foreach (var pair in (Dictionary<string, object>)value)
                {
                    if (!first) output.Append(',');
                    first = false;
                    WriteString(pair.Key, output);
                    output.Append(':');
                    Write(pair.Value, output);
                }
                output.Append('}');
            }
            else if (value is System.Collections.IEnumerable)
            {
                output.Append('[');
                bool first = true;
                foreach (var item in (System.Collections.IEnumerable)value)
                {
                    if (!first) output.Append(',');
                    first = false;
                    Write(item, output);
                }
                output.Append(']');
            }
            else throw new ArgumentException("not JSON: " + value.GetType());
        }

        static void WriteString(string text, StringBuilder output)
        {
            output.Append('"');
            foreach (char c in text)
            {
                if (c == '"') output.Append("\\\"");
                else if (c == '\\') output.Append("\\\\");
                else if (c == '\n') output.Append("\\n");
                else if (c < 0x20) output.Append("\\u").Append(((int)c).ToString("x4"));
                else output.Append(c);
            }
            output.Append('"');
        }

        public static object Read(string text)
        {
            int i = 0;
            var value = ReadValue(text, ref i);
            SkipSpace(text, ref i);
            if (i != text.Length) throw new FormatException("trailing characters at " + i);
            return value;
        }

        static void SkipSpace(string s, ref int i) { while (i < s.Length && char.IsWhiteSpace(s[i])) i++; }

        static object ReadValue(string s, ref int i)
        {
            SkipSpace(s, ref i);
            if (i >= s.Length) throw new FormatException("unexpected end");
            char c = s[i];
            if (c == '{')
            {
                var result = new Dictionary<string, object>();
                i++; SkipSpace(s, ref i);
                if (i < s.Length && s[i] == '}') { i++; return result; }
                while (true)
                {
                    SkipSpace(s, ref i);
                    var key = ReadString(s, ref i);
                    SkipSpace(s, ref i);
                    Expect(s, ref i, ':');
                    result[key] = ReadValue(s, ref i);
                    SkipSpace(s, ref i);
                    if (i < s.Length && s[i] == ',') { i++; continue; }
                    Expect(s, ref i, '}');
                    return result;
                }
            }
            if (c == '[')
            {
                var result = new List<object>();
                i++; SkipSpace(s, ref i);
                if (i < s.Length && s[i] == ']') { i++; return result; }
                while (true)
                {
                    result.Add(ReadValue(s, ref i));
                    SkipSpace(s, ref i);
                    if (i < s.Length && s[i] == ',') { i++; continue; }
                    Expect(s, ref i, ']');
                    return result;
                }
            }
            if (c == '"') return ReadString(s, ref i);
            if (string.CompareOrdinal(s, i, "true", 0, 4) == 0) { i += 4; return true; }
            if (string.CompareOrdinal(s, i, "false", 0, 5) == 0) { i += 5; return false; }
            if (string.CompareOrdinal(s, i, "null", 0, 4) == 0) { i += 4; return null; }
            int start = i;
            bool integer = true;
            while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0)
            {
                if (s[i] == '.' || s[i] == 'e' || s[i] == 'E') integer = false;
                i++;
            }
            if (start == i) throw new FormatException("unexpected '" + c + "' at " + i);
            var number = s.Substring(start, i - start);
            long whole;
            if (integer && long.TryParse(number, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out whole)) return whole;
            return double.Parse(number, NumberStyles.Float, CultureInfo.InvariantCulture);
        }

        static void Expect(string s, ref int i, char c)
        {
            if (i >= s.Length || s[i] != c) throw new FormatException("expected '" + c + "' at " + i);
            i++;
        }

        static string ReadString(string s, ref int i)
        {
            Expect(s, ref i, '"');
            var output = new StringBuilder();
            while (i < s.Length && s[i] != '"')
            {
                char c = s[i++];
                if (c != '\\') { output.Append(c); continue; }
                if (i >= s.Length) break;
                char e = s[i++];
                switch (e)
                {
                    case 'n': output.Append('\n'); break;
                    case 't': output.Append('\t'); break;
                    case 'r': output.Append('\r'); break;
                    case 'b': output.Append('\b'); break;
                    case 'f': output.Append('\f'); break;
                    case 'u':
                        if (i + 4 > s.Length) throw new FormatException("bad \\u escape");
                        output.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    default: output.Append(e); break;   // \" \\ \/
                }
            }
            Expect(s, ref i, '"');
            return output.ToString();
        }
    }
}
