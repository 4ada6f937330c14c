// RollCall's browser client: an ES module, no dependencies, no build step.
// Served by every hub at /clients/rollcall.js. The protocol is docs/protocol.md.
//
//   import { connect } from "/clients/rollcall.js";
//   const hub = connect({ url: "ws://127.0.0.1:8080/v1/ws", getToken: () => fetchToken() });
//   hub.addEventListener("presence", (e) => render(e.detail.user_id, e.detail.online));
//   await hub.subscribe(["bob", "carol"]);
//   await hub.send("bob", { text: "hi" });
//   const doc = await hub.join("doc-1", { status: "reading" });
//   doc.addEventListener("change", () => render(doc.members));
//   await doc.setState({ status: "typing" });
//
// Events (CustomEvent, the frame in `detail`): welcome, presence, connection, message, close.
// `hub.presence` is a Map of user id → { online, connections, version } kept from snapshots and
// presence events, for a page to render from. A joined room (`Room`) keeps its members the same
// way, and is joined again, with its last state, after a reconnect.

export function connect(options) {
  return new RollCallClient(options);
}

export class RollCallClient extends EventTarget {
  constructor({ url, token, getToken, backoff = { initial: 250, maximum: 10000 } }) {
    super();
    if (!url) throw new Error("connect needs a url, e.g. ws://host:8080/v1/ws");
    if (!token && !getToken) throw new Error("connect needs a token or a getToken function");
    this.url = url;
    this.getToken = getToken || (() => token);
    this.backoff = backoff;
    this.presence = new Map();
    this.connectionId = null;
    this.pending = new Map(); // request id → { resolve, reject }
    this.watched = new Set();
    this.watchesAll = false;
    this.rooms = new Map(); // room name → Room
    this.nextId = 1;
    this.failures = 0;
    this.closed = false;
    this.socket = null;
    this.open();
  }

  /** Watch `users` (now and after every reconnect); resolves with their presence now. */
  subscribe(users) {
    users.forEach((user) => this.watched.add(user));
    return this.request({ type: "subscribe", users }).then((frame) => frame.users);
  }

  /** Every connection of every hub (admin tokens); resolves with who is online now. */
  subscribeAll() {
    this.watchesAll = true;
    return this.request({ type: "subscribe", all: true }).then((frame) => frame.users);
  }

  unsubscribe(users) {
    users.forEach((user) => this.watched.delete(user));
    return this.request({ type: "unsubscribe", users });
  }

  /** Joins `room` with `state` (and again after every reconnect); resolves with the `Room`, its
   * members as the hub wrote the join. */
  join(room, state = {}) {
    return this.request({ type: "join", room, state }).then(() => {
      const joined = this.rooms.get(room);
      joined.state = state;
      return joined;
    });
  }

  /** Sends `data` to every connection of `to`; resolves once the hub has taken it. */
  send(to, data) {
    return this.request({ type: "send", to, data });
  }

  /** Closes with 1000 and stops reconnecting. */
  close() {
    this.closed = true;
    if (this.socket) this.socket.close(1000, "client closed");
  }

  // The connection, again and again.

  async open() {
    let token;
    try {
      token = await this.getToken();
    } catch (error) {
      return this.retry(null, `getToken failed: ${error}`);
    }
    if (this.closed) return;
    const address = new URL(this.url, location.href);
    address.searchParams.set("access_token", token);
    if (this.connectionId) address.searchParams.set("resume", this.connectionId);
    const socket = new WebSocket(address);
    this.socket = socket;
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      for (const { reject } of this.pending.values()) reject(new Error("the socket closed"));
      this.pending.clear();
      this.retry(event.code, event.reason);
    };
  }

  retry(code, reason) {
    const delay = this.closed ? null : this.pause(++this.failures);
    this.emit("close", { code, reason, retryIn: delay });
    if (delay !== null) setTimeout(() => this.open(), delay);
  }

  /** Doubles from `initial` to `maximum`, jittered to between half and all of it. */
  pause(failures) {
    const full = Math.min(this.backoff.maximum, this.backoff.initial * 2 ** Math.min(failures - 1, 20));
    return Math.round(full * (0.5 + Math.random() / 2));
  }

  receive(frame) {
    switch (frame.type) {
      case "welcome":
        this.failures = 0;
        this.connectionId = frame.connection_id;
        this.emit("welcome", frame);
        this.renew();
        return;
      case "presence":
        this.remember(frame.user_id, frame);
        this.emit("presence", frame);
        return;
      case "snapshot":
        for (const user of frame.users) this.remember(user.user_id, user);
        break;
      case "connection":
        this.emit("connection", frame);
        return;
      case "message":
        this.emit("message", frame);
        return;
      case "room":
        if (!this.rooms.has(frame.room)) this.rooms.set(frame.room, new Room(this, frame.room));
        this.rooms.get(frame.room).reset(frame);
        break;
      case "room_event":
        this.rooms.get(frame.room)?.apply(frame);
        return;
    }
    const waiting = frame.id !== undefined ? this.pending.get(frame.id) : undefined;
    if (!waiting) return;
    this.pending.delete(frame.id);
    if (frame.type === "error") waiting.reject(Object.assign(new Error(frame.message), { code: frame.code }));
    else waiting.resolve(frame);
  }

  /** Keeps the newest of what was heard about a user (versions only grow). */
  remember(user, state) {
    const known = this.presence.get(user);
    if (known && known.version > state.version) return;
    this.presence.set(user, { online: state.online, connections: state.connections, version: state.version });
  }

  /** After a reconnect, what was watched is watched again, and the rooms are joined again. */
  renew() {
    if (this.watchesAll) this.frame({ type: "subscribe", all: true });
    if (this.watched.size > 0) this.frame({ type: "subscribe", users: [...this.watched] });
    for (const room of this.rooms.values()) this.frame({ type: "join", room: room.name, state: room.state });
  }

  request(frame) {
    return new Promise((resolve, reject) => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
        return reject(new Error("not connected: wait for the welcome event"));
      }
      const id = `js${this.nextId++}`;
      this.pending.set(id, { resolve, reject });
      this.frame({ ...frame, id });
    });
  }

  frame(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/** A room this client is in: `members` is a Map of connection id → { user_id, state, joined_at },
 * kept from the join's answer and every change after it. Events (the `room_event` in `detail`):
 * joined, updated, left, and change for any of them; sync when the members were read anew (the
 * join, and again after a reconnect). */
export class Room extends EventTarget {
  constructor(client, name) {
    super();
    this.client = client;
    this.name = name;
    this.version = 0;
    this.state = {};
    this.members = new Map();
  }

  /** The members grouped by user: user id → [{ connection_id, state, joined_at }]. */
  get users() {
    const users = new Map();
    for (const [connection_id, member] of this.members) {
      if (!users.has(member.user_id)) users.set(member.user_id, []);
      users.get(member.user_id).push({ connection_id, state: member.state, joined_at: member.joined_at });
    }
    return users;
  }

  /** Replaces this connection's state in the room; resolves once written. */
  setState(state) {
    this.state = state;
    return this.client.request({ type: "room_state", room: this.name, state });
  }

  /** Leaves the room (and does not join it again after a reconnect). */
  leave() {
    this.client.rooms.delete(this.name);
    return this.client.request({ type: "leave", room: this.name });
  }

  reset(frame) {
    this.version = frame.version;
    this.members = new Map();
    for (const user of frame.members) {
      for (const connection of user.connections) {
        this.members.set(connection.connection_id, { user_id: user.user_id, state: connection.state, joined_at: connection.joined_at });
      }
    }
    this.dispatchEvent(new CustomEvent("sync", { detail: frame }));
  }

  apply(event) {
    if (event.version <= this.version) return;
    this.version = event.version;
    if (event.event === "left") {
      this.members.delete(event.connection_id);
    } else {
      const joinedAt = this.members.get(event.connection_id)?.joined_at ?? event.at;
      this.members.set(event.connection_id, { user_id: event.user_id, state: event.state, joined_at: joinedAt });
    }
    this.dispatchEvent(new CustomEvent(event.event, { detail: event }));
    this.dispatchEvent(new CustomEvent("change", { detail: event }));
  }
}
