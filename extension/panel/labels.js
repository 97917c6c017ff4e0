// Chinese names for the ids the server sends (intents, lint categories, slots). The ids stay in
// data-* attributes for tests and tools; an id this table does not know is shown as it is.
export const INTENTS = { bargaining: "议价", hesitation: "犹豫", logistics: "物流", refund: "退款", other: "不确定" };

export const CATEGORIES = {
  uncertain: "含糊其辞", curt: "回复生硬", off_platform: "站外引流", absolute_claim: "绝对化用语",
  refusal: "推诿拒绝", questioning: "质问买家",
};

export const SLOTS = {
  amount: "金额", color: "颜色", coupon: "优惠券", courier: "快递公司", cutoff: "截单时间", date: "日期",
  days: "天数", original_price: "原价", origin: "发货地", quantity: "数量", return_address: "退货地址",
  threshold: "门槛", tracking_no: "快递单号",
};

export const SEVERITIES = { block: "禁止", warn: "注意" };

export const label = (table, id) => table[id] ?? id;
