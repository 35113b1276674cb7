# UNTESTED in Godot: there is no Godot 4 on the machine that wrote it, so it was never run,
# loaded by the engine (no type or API check), or connected to a server. Its syntax and style
# passed gdtoolkit 4.5.0's gdparse and gdlint (docs/clients.md).
#
# A compact client of the Signight game socket, protocol 1.1 (docs/protocol.md), for Godot 4
# with WebSocketPeer. Add it as a child node; connect to its signals; call join(),
# update_state() every frame, chat(). Usage: docs/clients.md, "Godot".
#
# JSON.parse_string() reads every number as a float: seq (about 1.8e15, below 2^53) survives
# that exactly, but is turned back into an int here before it is sent, so JSON.stringify()
# writes it as an integer (Resume.last_seq must be one).
class_name SignightClient
extends Node

signal status_changed(status: String, code: int, action: String)
signal welcome(frame: Dictionary)
signal resumed(frame: Dictionary)
signal player_joined(frame: Dictionary)
signal player_left(frame: Dictionary)
signal chat_received(frame: Dictionary)          # every Chat frame, our own echo included
signal chat_acked(id: String, frame: Dictionary) # our chat is stored and delivered
signal chat_failed(id: String, code: String, message: String)
signal state_received(client_id: String, state: Dictionary, server_time: int)
signal error_received(frame: Dictionary)
signal gap(expected: int, received: int)         # an event may be missed: join() again
signal token_needed                              # close 4401: call set_token() with a fresh JWT

# docs/protocol.md, "Close codes" (the schema's x-close-codes, plus 1006); others are "backoff".
const CLOSE_ACTIONS := {
	1000: "stop", 1001: "resume", 1006: "backoff", 1007: "fix", 1008: "backoff", 1009: "fix",
	1011: "backoff", 1013: "backoff", 4401: "refresh_token", 4408: "stop", 4409: "backoff",
	4410: "stop", 4429: "backoff", 4503: "stop",
}

@export var url := "ws://localhost:8080/ws/"
@export var player_name := "Player"
@export var color := ""                        # "#RRGGBB", or "" for the server's default
@export var ping_seconds := 15.0
@export var interpolation_delay_ms := 100.0    # two ticks at 20 Hz
var token := ""                                # a JWT access token when WS_AUTH_REQUIRED
var token_as_subprotocol := OS.has_feature("web")  # a browser cannot set Authorization

# What the client knows (read these).
var status := "closed"                         # connecting, open, reconnecting, resumed, closed
var client_id := ""
var room_id := ""
var seq := -1                                  # the newest event seq received; -1: none
var resume_token := ""
var tick_rate := 20
var limits := {}
var players := {}                              # client_id -> state (away players included)
var rtt_ms := 0.0
var clock_offset_ms := 0.0                     # server clock − this clock

var _ws: WebSocketPeer = null
var _closing_ws: WebSocketPeer = null
var _opened := false
var _in_room := false
var _want_room := ""
var _request_id := ""
var _request_is_resume := false
var _attempt := 0
var _reconnect_at := INF
var _retry_at := INF
var _connect_deadline := INF
var _lost_at := -1.0
var _next_ping := 0.0
var _next_update := 0.0
var _last_received := 0.0
var _pending_state = null
var _last_state = null
var _chats := {}                               # id -> {"message": String, "sent": bool}
var _pongs := []                               # [rtt, offset]
var _need_token := false
var _fresh_token_tried := false
var _id_prefix := "%08x" % (randi() & 0x7fffffff)
var _id_count := 0
var _buffers := {}                             # client_id -> [[server_time, Vector3, Quaternion]]


# --- the API ------------------------------------------------------------------------------------

## Enter a room, at `state` (else the origin). With a saved resume token and seq, Resume instead.
func join(room: String, state = null, saved_resume_token := "", last_seq := -1) -> void:
	_want_room = room
	_last_state = state
	if saved_resume_token != "":
		resume_token = saved_resume_token
		seq = last_seq
		_lost_at = -1.0
	if _opened:
		_send_join_or_resume()
	elif _ws == null and _reconnect_at == INF and not _need_token:
		_attempt = 0
		_set_status("connecting", 0, "")
		_connect()


## The player's latest state; call it every frame: one Update per tick is sent.
func update_state(position: Vector3, rotation: Quaternion, animation := "") -> void:
	_pending_state = make_state(position, rotation, animation)


## Returns the chat's id; chat_acked(id, frame) or chat_failed(id, code, message) follows. Without
## an echo before a drop it is sent again with the same id (stored once).
func chat(message: String, id := "") -> String:
	if id == "":
		id = _new_id("c")
	_chats[id] = {"message": message, "sent": false}
	if _in_room:
		_send_chat(id)
	return id


## Leave the room at once (the others get PlayerLeft); the socket stays open.
func leave() -> void:
	if _opened and (_in_room or _request_id != ""):
		_send({"type": "Leave"})
	_want_room = ""
	_request_id = ""
	_clear_room()


## Close with 1000: the player leaves at once; no reconnection.
func close() -> void:
	if _ws != null:
		_ws.close(1000, "bye")
		_closing_ws = _ws
	_stop(1000, "closed by the client")


## After token_needed: connect again with a fresh JWT ("" gives up).
func set_token(fresh: String) -> void:
	if not _need_token:
		return
	_need_token = false
	if fresh == "":
		_stop(4401, "no fresh token")
		return
	token = fresh
	_connect()


## The server's clock now, Unix ms.
func server_now_ms() -> float:
	return _unix_ms() + clock_offset_ms


## A remote player as it was interpolation_delay_ms ago: {"position": Vector3, "rotation":
## Quaternion}, or {} before its first state.
func sample(id: String, now_ms: float) -> Dictionary:
	var buffer: Array = _buffers.get(id, [])
	if buffer.is_empty():
		return {}
	var at := now_ms - interpolation_delay_ms
	var i := 1
	while i < buffer.size() and buffer[i][0] < at:
		i += 1
	if at <= buffer[0][0] or i == buffer.size():
		var held = buffer[0] if at <= buffer[0][0] else buffer[-1]
		return {"position": held[1], "rotation": held[2]}
	var a = buffer[i - 1]
	var b = buffer[i]
	var alpha := (at - a[0]) / (b[0] - a[0])
	return {"position": a[1].lerp(b[1], alpha), "rotation": a[2].slerp(b[2], alpha)}


## A player state: rotation goes on the wire as [w, x, y, z] (Godot's Quaternion is x, y, z, w).
static func make_state(position: Vector3, rotation: Quaternion, animation := "") -> Dictionary:
	var state := {
		"position": [position.x, position.y, position.z],
		"rotation": [rotation.w, rotation.x, rotation.y, rotation.z],
	}
	if animation != "":
		state["animation"] = animation
	return state


# --- the loop -----------------------------------------------------------------------------------

func _process(_delta: float) -> void:
	var now := _now()
	if now >= _reconnect_at:
		_reconnect_at = INF
		_connect()
	if now >= _retry_at:
		_retry_at = INF
		if _opened and _want_room != "":
			_send_join_or_resume()
	if _closing_ws != null:
		_closing_ws.poll()  # lets our close frame out
		if _closing_ws.get_ready_state() == WebSocketPeer.STATE_CLOSED:
			_closing_ws = null
	if _ws == null:
		return
	_ws.poll()
	var ready_state := _ws.get_ready_state()
	if ready_state == WebSocketPeer.STATE_OPEN and not _opened:
		_on_open()
	while _ws != null and _ws.get_available_packet_count() > 0:
		var packet := _ws.get_packet()
		if _ws.was_string_packet():
			_on_text(packet.get_string_from_utf8())
	if _ws == null:
		return
	if ready_state == WebSocketPeer.STATE_CLOSED:
		var code := _ws.get_close_code()
		_on_close(1006 if code == -1 else code, _ws.get_close_reason())  # -1: not a clean close
		return
	if ready_state == WebSocketPeer.STATE_CONNECTING and now > _connect_deadline:
		_abandon("connect timeout")
		return
	if not _opened:
		return
	if now - _last_received > 2 * ping_seconds:
		_abandon("no answer to two pings")
		return
	if now >= _next_ping:
		_ping()
	if _in_room and _pending_state != null and now >= _next_update:
		_send({"type": "Update", "state": _pending_state})
		_last_state = _pending_state
		_pending_state = null
		_next_update = now + 1.0 / maxi(tick_rate, 1)


# --- the socket ---------------------------------------------------------------------------------

func _connect() -> void:
	_ws = WebSocketPeer.new()
	_ws.inbound_buffer_size = 1 << 20  # the default 64 KiB is less than a Welcome can be
	if token != "":
		if token_as_subprotocol:
			_ws.supported_protocols = PackedStringArray(["bearer", token])
		else:
			_ws.handshake_headers = PackedStringArray(["Authorization: Bearer " + token])
	_opened = false
	_connect_deadline = _now() + 10.0
	var err := _ws.connect_to_url(url)
	if err != OK:
		_ws = null
		_stop(1006, "cannot open the socket: %s" % error_string(err))


func _abandon(reason: String) -> void:
	_ws.close()
	_on_close(1006, reason)


func _on_open() -> void:
	_opened = true
	_fresh_token_tried = false
	_last_received = _now()
	_pongs.clear()
	if _want_room != "":
		_send_join_or_resume()      # Resume must be the first message
	else:
		_set_status("open", 0, "")
	_ping()


func _on_close(code: int, reason: String) -> void:
	var opened := _opened
	_ws = null
	_opened = false
	if _in_room and _lost_at < 0:
		_lost_at = _now()
	_in_room = false
	_request_id = ""
	for id in _chats:
		_chats[id].sent = false  # sent again, same id, once back in the room
	var action: String = CLOSE_ACTIONS.get(code, "backoff")
	if action == "stop" or action == "fix":
		_stop(code, reason)
		return
	var mesh_refusal := code == 1006 and not opened and not _fresh_token_tried and token != ""
	if action == "refresh_token" or mesh_refusal:
		# 4401, or behind the mesh a refused token, which is a failed handshake (1006).
		_fresh_token_tried = code == 1006
		_need_token = true
		_set_status("reconnecting", code, "refresh_token")
		token_needed.emit()
		return
	var delay: float
	if action == "resume":
		delay = randf()                                    # a drain: 0–1 s
	elif action == "reconnect" and _attempt == 0:
		delay = 0.0
	else:
		delay = randf() * minf(20.0, 0.5 * pow(2.0, _attempt))  # full jitter
	_attempt += 1
	_set_status("reconnecting", code, action)
	_reconnect_at = _now() + delay


func _stop(code: int, reason: String) -> void:
	_ws = null
	_opened = false
	_want_room = ""
	_request_id = ""
	_reconnect_at = INF
	_retry_at = INF
	_lost_at = -1.0
	_attempt = 0
	_need_token = false
	_clear_room()
	var chats := _chats
	_chats = {}
	_set_status("closed", code, CLOSE_ACTIONS.get(code, "backoff"))
	for id in chats:
		chat_failed.emit(id, "closed", "socket closed (%d %s)" % [code, reason])


func _clear_room() -> void:
	_in_room = false
	room_id = ""
	seq = -1
	resume_token = ""
	players.clear()
	_buffers.clear()
	_pending_state = null


# --- joining and resuming -----------------------------------------------------------------------

func _can_resume() -> bool:
	if resume_token == "":
		return false
	var grace: float = limits.get("resume_grace", 20)
	return _lost_at < 0 or _now() - _lost_at < grace


func _send_join_or_resume() -> void:
	_request_is_resume = _can_resume()
	_request_id = _new_id("r" if _request_is_resume else "j")
	if _request_is_resume:
		_send({
			"type": "Resume", "id": _request_id, "resume_token": resume_token,
			"last_seq": maxi(seq, 0),
		})
		return
	var message := {"type": "Join", "id": _request_id, "room_id": _want_room, "name": player_name}
	if color != "":
		message["color"] = color
	if _last_state != null:
		message["state"] = _last_state  # back where it was
	_send(message)


func _enter_room(frame: Dictionary) -> void:
	_request_id = ""
	_in_room = true
	_attempt = 0
	_lost_at = -1.0
	client_id = frame.client_id
	room_id = frame.room_id
	resume_token = frame.resume_token
	tick_rate = int(frame.tick_rate)
	limits = frame.limits
	if _pongs.is_empty():
		clock_offset_ms = frame.server_time - _unix_ms()


func _set_world(frame: Dictionary) -> void:
	players.clear()
	_buffers.clear()
	for entry in frame.room_state:
		players[entry.client_id] = entry.state
		if entry.client_id != client_id:
			_push(entry.client_id, frame.server_time, entry.state)


func _after_entering() -> void:
	for id in _chats:
		if not _chats[id].sent:
			_send_chat(id)


func _on_welcome(frame: Dictionary) -> void:
	_enter_room(frame)
	seq = int(frame.seq)
	_set_world(frame)
	_set_status("open", 0, "")
	welcome.emit(frame)
	_after_entering()


func _on_resumed(frame: Dictionary) -> void:
	_enter_room(frame)
	if frame.recovered:
		for event in frame.missed:
			_on_event(event)
		seq = maxi(seq, int(frame.seq))
	else:
		seq = int(frame.seq)  # a new world: room_state and chat_history replace yours
	_set_world(frame)
	_set_status("resumed", 0, "")
	resumed.emit(frame)
	_after_entering()


## PlayerJoined, PlayerLeft, Chat: live or from Resumed.missed; duplicates and gaps by seq.
func _on_event(frame: Dictionary) -> void:
	if frame.type == "Chat" and frame.get("ref") is String and _chats.has(frame.ref):
		_chats.erase(frame.ref)
		chat_acked.emit(frame.ref, frame)
	if frame.room_id != room_id:
		return
	var event_seq := int(frame.seq)
	if seq >= 0 and event_seq <= seq:
		return  # a duplicate
	if seq >= 0 and event_seq > seq + 1:
		gap.emit(seq + 1, event_seq)
	seq = event_seq
	match frame.type:
		"PlayerJoined":
			players[frame.client_id] = frame.state
			player_joined.emit(frame)
		"PlayerLeft":
			players.erase(frame.client_id)
			_buffers.erase(frame.client_id)
			player_left.emit(frame)
		"Chat":
			chat_received.emit(frame)


func _on_state_update(frame: Dictionary) -> void:
	if frame.room_id != room_id:
		return
	for entry in frame.players:
		players[entry.client_id] = entry.state
		if entry.client_id == client_id:
			continue  # our own: ignore, or reconcile
		_push(entry.client_id, frame.server_time, entry.state)
		state_received.emit(entry.client_id, entry.state, int(frame.server_time))


func _on_error(frame: Dictionary) -> void:
	var ref = frame.get("ref")
	if ref is String and _chats.has(ref):
		_chats.erase(ref)
		chat_failed.emit(ref, frame.code, frame.message)
	elif ref is String and ref == _request_id:
		if _request_is_resume and frame.code == "resume_failed":
			resume_token = ""
			_send_join_or_resume()  # a Join, then
		elif frame.code == "unavailable" or frame.code == "rate_limited":
			_retry_at = _now() + randf() * minf(20.0, 0.5 * pow(2.0, _attempt))
			_attempt += 1
		else:
			_request_id = ""        # room_full, room_closed, invalid_message …
			_want_room = ""
			_clear_room()
	error_received.emit(frame)


func _on_pong(frame: Dictionary) -> void:
	if not (frame.t is float or frame.t is int):
		return
	var t0 := float(frame.t)
	var t1 := _unix_ms()
	var pong := [t1 - t0, frame.server_time - (t0 + t1) / 2.0]
	_pongs.append(pong)
	if _pongs.size() > 5:
		_pongs.pop_front()
	var best = _pongs[0]
	for p in _pongs:
		if p[0] < best[0]:
			best = p
	rtt_ms = pong[0]
	clock_offset_ms = best[1]


# --- helpers ------------------------------------------------------------------------------------

func _on_text(text: String) -> void:
	_last_received = _now()
	var frame = JSON.parse_string(text)
	if not (frame is Dictionary) or not (frame.get("type") is String):
		return
	match frame.type:
		"Welcome": _on_welcome(frame)
		"Resumed": _on_resumed(frame)
		"PlayerJoined", "PlayerLeft", "Chat": _on_event(frame)
		"StateUpdate": _on_state_update(frame)
		"Pong": _on_pong(frame)
		"Error": _on_error(frame)


func _push(id: String, server_time: float, state: Dictionary) -> void:
	var buffer: Array = _buffers.get(id, [])
	if not buffer.is_empty() and buffer[-1][0] >= server_time:
		return
	var p: Array = state.position
	var r: Array = state.rotation
	var rotation := Quaternion(r[1], r[2], r[3], r[0]).normalized()  # wire: [w, x, y, z]
	buffer.append([server_time, Vector3(p[0], p[1], p[2]), rotation])
	while buffer.size() > 2 and buffer[1][0] < server_time - 1000.0:
		buffer.pop_front()
	_buffers[id] = buffer


func _ping() -> void:
	_send({"type": "Ping", "t": int(_unix_ms())})
	_next_ping = _now() + ping_seconds


func _send_chat(id: String) -> void:
	_send({"type": "Chat", "id": id, "message": _chats[id].message})
	_chats[id].sent = true


func _send(message: Dictionary) -> void:
	if _ws != null and _opened:
		_ws.send_text(JSON.stringify(message))


func _set_status(new_status: String, code: int, action: String) -> void:
	status = new_status
	status_changed.emit(new_status, code, action)


func _new_id(kind: String) -> String:
	_id_count += 1
	return "%s-%s-%d" % [kind, _id_prefix, _id_count]


func _now() -> float:
	return Time.get_ticks_msec() / 1000.0


func _unix_ms() -> float:
	return Time.get_unix_time_from_system() * 1000.0
