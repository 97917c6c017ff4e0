// JD 咚咚 merchant web (京东商家客服工作台 in the browser).
//
// NOT VERIFIED: we cannot reach JD from our machines; these selectors and
// extension/test/fixtures/jd.html are our assumption of the page, not a copy of it. Assumed: the
// web chat runs on dongdong.jd.com (or dd.jd.com); the open conversation's id is in the URL hash
// (#/chat/<customer pin>) and, failing that, on the selected session item; each message row says
// who sent it in a data attribute (data-role="customer" | "waiter"; anything else is a system
// row); the input is a textarea. A shop whose page differs switches this adapter off and sets the
// generic adapter's selectors in the options page.
import { nodeText } from "../reader.js";

const selectors = {
  messageList: ".dd-chat-msgs, #chat-msg-list",
  message: ".dd-msg, .msg-row",
  input: ".dd-chat-editor textarea, textarea#chat-input-area",
  text: ".dd-msg-text, .msg-text",
  conversation: ".dd-session.selected, .session-item.selected",
};

export default {
  id: "jd",
  name: "京东咚咚",
  matches: ["https://dongdong.jd.com/*", "https://dd.jd.com/*"],
  selectors,
  profile: "jd", // the lint profile for this platform's rules (lint requests' `profile`)
  author(node) {
    const role = node.dataset.role;
    return role === "customer" ? "buyer" : role === "waiter" ? "seller" : null;
  },
  conversationId(doc) {
    const fromHash = /#\/chat\/([^/?]+)/.exec(doc.location?.hash ?? "")?.[1];
    return (fromHash && decodeURIComponent(fromHash)) || doc.querySelector(selectors.conversation)?.dataset.pin || null;
  },
  text: (node) => nodeText(node, selectors.text),
  messageId: (node) => node.dataset.msgId ?? null,
};
