// RollCall's browser client: an ES module, no dependencies, no build step.
// Served by every hub at /clients/rollcall.js. The protocol is docs/protocol.md.
//
//   import { connect } from "/clients/rollcall.js";
//   const hub = connect({ url: "ws://127.0.0.1:8080/v1/ws", getToken: () => fetchToken() });
//   hub.addEventListener("presence", (e) => render(e.detail.user_id, e.detail.online));
//   await hub.subscribe(["bob", "carol"]);
//   await hub.send("bob", { text: "hi" });
//
// Events (CustomEvent, the frame in `detail`): welcome, presence, connection, message, close.
// `hub.presence` is a Map of user id → { online, connections, version } kept from snapshots and
// presence events, for a page to render from.

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

  /** After a reconnect, what was watched is watched again. */
  renew() {
    if (this.watchesAll) this.frame({ type: "subscribe", all: true });
    if (this.watched.size > 0) this.frame({ type: "subscribe", users: [...this.watched] });
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
