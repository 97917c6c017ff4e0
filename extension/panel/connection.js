// The WebSocket to the Huashu server: reconnects with backoff, pings every 20 s while open,
// and keeps frames sent while disconnected to send once it is back (nothing typed is lost).
// The key travels as a WebSocket subprotocol ("bearer.KEY", next to "huashu"), never in the URL:
// URLs end up in logs, proxies and the browser's own network records.
export const CLOSE_BAD_KEY = 4401;
export const CLOSE_WRONG_ROLE = 4403;

export function backoff(attempt) {
  return Math.min(10000, 500 * 2 ** attempt);
}

export const SUBPROTOCOL = "huashu";
// What a subprotocol may hold (an RFC 7230 token); the browser refuses anything else outright.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function socketUrl(server) {
  const url = new URL("/v1/ws", server);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.search = "";
  url.hash = "";
  return url.toString();
}

/** The subprotocols to offer: "huashu" (the one the server answers with) and the key; null
 * for a key that cannot be one (a real key is "hs_" and URL-safe base64). */
export function socketProtocols(key) {
  return TOKEN.test(key) ? [SUBPROTOCOL, `bearer.${key}`] : null;
}

export class Connection {
  constructor({ server, key, onStatus, onFrame, WebSocketImpl = globalThis.WebSocket }) {
    Object.assign(this, { server, key, onStatus, onFrame, WebSocketImpl });
    this.queue = [];
    this.attempt = 0;
    this.socket = null;
    if (!server || !key) {
      onStatus("error", "未设置：请打开选项页，填写服务器地址和 API 密钥");
      return;
    }
    this.open();
  }

  open() {
    let url;
    try { url = socketUrl(this.server); } catch {
      this.onStatus("error", `服务器地址无效：${this.server}`);
      return;
    }
    const protocols = socketProtocols(this.key);
    if (!protocols) {
      this.onStatus("error", "API 密钥格式无效（只能含字母、数字和 - _ 等符号，不能有空格或中文），请检查选项页");
      return;
    }
    this.onStatus("connecting", "连接中…");
    const socket = new this.WebSocketImpl(url, protocols);
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.onStatus("open", "已连接");
      this.ping = setInterval(() => socket.send(JSON.stringify({ type: "ping" })), 20000);
      for (const frame of this.queue.splice(0)) socket.send(JSON.stringify(frame));
    };
    socket.onmessage = (event) => this.onFrame(JSON.parse(event.data));
    socket.onclose = (event) => {
      clearInterval(this.ping);
      this.socket = null;
      if (event.code === CLOSE_BAD_KEY) {
        this.onStatus("error", `服务器拒绝了 API 密钥（${event.reason}），请检查选项页`);
        return;
      }
      if (event.code === CLOSE_WRONG_ROLE) {
        this.onStatus("error", `服务器拒绝了此连接：${event.reason}`);
        return;
      }
      const wait = backoff(this.attempt++);
      this.onStatus("connecting", `与 ${this.server} 的连接已断开，${Math.round(wait / 100) / 10} 秒后重试`);
      setTimeout(() => this.open(), wait);
    };
  }

  send(frame) {
    if (this.socket?.readyState === 1) this.socket.send(JSON.stringify(frame));
    else this.queue.push(frame);
  }
}
