// The WebSocket to the Huashu server: reconnects with backoff, pings every 20 s while open,
// and keeps frames sent while disconnected to send once it is back (nothing typed is lost).
export const CLOSE_BAD_KEY = 4401;
export const CLOSE_WRONG_ROLE = 4403;

export function backoff(attempt) {
  return Math.min(10000, 500 * 2 ** attempt);
}

export function socketUrl(server, key) {
  const url = new URL("/v1/ws", server);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("token", key);
  return url.toString();
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
    try { url = socketUrl(this.server, this.key); } catch {
      this.onStatus("error", `服务器地址无效：${this.server}`);
      return;
    }
    this.onStatus("connecting", "连接中…");
    const socket = new this.WebSocketImpl(url);
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
