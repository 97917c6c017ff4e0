// Pinduoduo merchant chat (拼多多商家后台 · 客服聊天, mms.pinduoduo.com/chat-merchant).
//
// NOT VERIFIED: we cannot reach Pinduoduo from our machines; these selectors and
// extension/test/fixtures/pinduoduo.html are our assumption of the page, not a copy of it.
// Assumed: the chat is a single-page app under mms.pinduoduo.com/chat-merchant/; the open
// conversation is the active item of the chat list, carrying the buyer's uid; a buyer's message
// row has the class "buyer-item", ours "seller-item" (robot auto-replies count as ours),
// notices neither; the input is a textarea. A shop whose page differs switches this adapter off
// and sets the generic adapter's selectors in the options page.
import { nodeText } from "../reader.js";

const selectors = {
  messageList: ".merchantMessage .msg-list, .chat-message-list",
  message: ".msg-item, li.chat-item",
  input: "textarea#replyTextarea, .chat-editor textarea",
  text: ".msg-content-box, .chat-text",
  conversation: ".chat-list-item.active, .conversation-item.active",
};

export default {
  id: "pinduoduo",
  name: "拼多多商家聊天",
  matches: ["https://mms.pinduoduo.com/chat-merchant/*"],
  selectors,
  profile: "pinduoduo", // the lint profile for this platform's rules (lint requests' `profile`)
  author(node) {
    if (node.classList.contains("buyer-item")) return "buyer";
    if (node.classList.contains("seller-item") || node.classList.contains("robot-item")) return "seller";
    return null;
  },
  conversationId: (doc) => doc.querySelector(selectors.conversation)?.dataset.uid || null,
  text: (node) => nodeText(node, selectors.text),
  messageId: (node) => node.dataset.msgId ?? null,
};
