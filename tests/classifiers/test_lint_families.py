"""The refusal, deflecting and blame families: what makes a line bad, the clean lines that
share its words, and the same lines typed to dodge a filter. All drafts are our own writing."""

import opencc
import pytest

_S2TWP = opencc.OpenCC("s2twp")
# Spaced, zero-width, full-width and emoji-split forms of one draft.
_ZW = "\u200b"


def _evasions(draft: str) -> list[str]:
    return [
        draft,
        " ".join(draft),
        _ZW.join(draft),
        "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in draft),
        "🙂".join(draft),
        _S2TWP.convert(draft),
    ]


def _categories(engine, draft: str, profile: str = "jd") -> set[str]:
    return {flag.category for flag in engine.lint(draft, profile).flags}


REFUSALS = [
    "这个订单是不能修改的呢",
    "发货以后就无法取消了",
    "抱歉，暂时不支持改到外市的地址",
    "不可以哦",
    "这边是不支持的呢",
    "活动商品没办法包邮的",
    "没法给您开发票的哦",
    "这个价格真的不能再便宜了",
    "站点那边送不了",
    "小妹这边无法帮您和快递进行联系",
]


@pytest.mark.parametrize("draft", REFUSALS)
def test_a_no_to_what_the_buyer_asked_is_a_refusal(engine, draft):
    for variant in _evasions(draft):
        assert "refusal" in _categories(engine, variant), variant
    flag = next(f for f in engine.lint(draft, "jd").flags if f.category == "refusal")
    # The span is the "no" itself, as typed.
    assert draft[flag.start : flag.end] == flag.match and flag.match[0] in "不无没送"


NOT_REFUSALS = [
    # What the product cannot do: a fact, not a refused request.
    "这款耳机不支持放入内存卡的哦",
    "灯光不能自动调节亮度",
    # A caveat on an estimate, a third party's failure, a condition, a risk.
    "预计明天送达，具体时间无法保证哦",
    "配送员打了两次电话无法联系上您",
    "如果无法送达，配送员会电话通知您",
    "可能无法按时送到，还请您谅解",
    # A question back to the buyer.
    "您那边无法查看订单是吗？我这边帮您看下",
    "不能修改吗？",
    # With a way forward.
    "订单已发货无法修改，建议您拒收后重新下单",
    "这个不能退，不过可以为您申请换货",
]


@pytest.mark.parametrize("draft", NOT_REFUSALS)
def test_the_same_words_that_refuse_nothing_are_clean(engine, draft):
    for variant in (draft, _S2TWP.convert(draft)):
        assert "refusal" not in _categories(engine, variant), variant


DEFLECTIONS = [
    "这个您联系一下商家吧",
    "您可以问一下软件那边的客服",
    "建议您和厂家沟通一下",
    "请您自行联系品牌方",
    "发票不是我们开的",
    "您去问问门店",
    "您自己找商家吧",
    "您拨打一下售后热线",
]


@pytest.mark.parametrize("draft", DEFLECTIONS)
def test_sending_the_buyer_elsewhere_is_deflecting(engine, draft):
    for variant in _evasions(draft):
        assert "deflecting" in _categories(engine, variant), variant


NOT_DEFLECTIONS = [
    # The agent does the contacting.
    "我这边联系一下商家，稍等哦",
    "已经联系厂家了，有结果马上告诉您",
    "小妹会联系商家尽快给您补发",
    # The shop's own service, the inquiry as a noun, asking what the buyer already did.
    "感谢您咨询本店铺",
    "欢迎咨询商家客服小妹",
    "您咨询的商家商品已经发货了",
    "您联系商家了吗？",
    "帮您找商家问问，稍等",
    # An instruction, and JD's own service line.
    "您可以自己找一下订单",
    "如有疑问可拨打京东客服热线",
    # A referral with a fallback.
    "您先联系一下商家，处理不了可以随时联系我们",
    # Not a denial of responsibility: a question, a condition.
    "不是我们的快递吗？我帮您查一下",
    "如果不归我们管，我也会帮您转达",
]


@pytest.mark.parametrize("draft", NOT_DEFLECTIONS)
def test_the_agent_doing_it_is_not_deflecting(engine, draft):
    for variant in (draft, _S2TWP.convert(draft)):
        assert "deflecting" not in _categories(engine, variant), variant


@pytest.mark.parametrize("draft", ["这是您自己填错的", "是快递的问题", "这个跟我们没关系", "怪你自己没看清"])
def test_blame(engine, draft):
    for variant in _evasions(draft):
        assert "blame" in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft",
    [
        "不是您的问题，我马上帮您处理",
        "您自己操作一下就可以了",
        "如果是快递的问题，我们来承担",
        "是快递的原因吗？",
        "好奇怪，您那边显示什么呢",
        "这不怪您",
    ],
)
def test_reassurance_and_instructions_are_not_blame(engine, draft):
    for variant in (draft, _S2TWP.convert(draft)):
        assert "blame" not in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft",
    ["加V：abc123", "加薇 abc12345", "加我绿泡泡", "企鹅号发您", "加企鹅 12345678", "卫星号abc12345"],
)
def test_im_slang_and_cut_names_are_off_platform(engine, draft):
    for variant in _evasions(draft):
        for profile in ("strict", "jd", "taobao", "pinduoduo"):
            result = engine.lint(variant, profile)
            assert "off_platform" in {f.category for f in result.flags} and not result.ok, (variant, profile)


@pytest.mark.parametrize(
    ("draft", "own"),
    [
        ("某宝搜同款", "taobao"),
        ("TB搜同款", "taobao"),
        ("tao宝上也有", "taobao"),
        ("去拼夕夕看看", "pinduoduo"),
    ],
)
def test_platform_nicknames(engine, draft, own):
    for variant in _evasions(draft):
        assert not engine.lint(variant, "jd").ok, variant
        assert engine.lint(variant, own).ok, variant


@pytest.mark.parametrize(
    "draft", ["1TB的硬盘", "可以加微辣哦", "加vip会员有优惠", "天上的卫星", "企鹅玩偶很可爱"]
)
def test_words_that_only_look_like_handles_are_clean(engine, draft):
    assert "off_platform" not in _categories(engine, draft, "strict"), draft


@pytest.mark.parametrize(
    "draft",
    [
        "这个小妹这边操作不了呢",
        "删除以后就加不了了",
        "确实是提前不了的",
        "您这个订单已经过了时效了",
        "已经过了价保周期了哦",
        "这个价格不能改，只能按现在的价格",
    ],
)
def test_more_ways_to_say_no(engine, draft):
    for variant in _evasions(draft):
        assert "refusal" in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft",
    [
        "您的支持我们少不了",
        "按这个尺码买错不了",
        "还没超过时效，可以申请",
        "这个地址改不了，只能重新下单哦",
        "订单无法修改，只能给您取消后重新下单",
    ],
)
def test_reassurance_and_real_alternatives_are_not_refusals(engine, draft):
    for variant in (draft, _S2TWP.convert(draft)):
        assert "refusal" not in _categories(engine, variant), variant


def test_a_supplier_and_the_product_page_service_are_other_parties(engine):
    assert "deflecting" in _categories(engine, "具体可以问问供应商呢")
    assert "deflecting" in _categories(engine, "建议您问一下页面商品客服哈")


def test_not_understanding_is_uncertain_but_an_offer_to_explain_is_not(engine):
    for variant in _evasions("这个我也不是很懂"):
        assert not engine.lint(variant, "jd").ok, variant
    assert engine.lint("亲亲，不懂的地方随时问我哦", "jd").ok
    assert engine.lint("不太明白您的意思，您是说哪个订单呢", "jd").ok


def test_a_run_of_fillers_does_not_backtrack(engine):
    # "为您" is one filler or two ("为" + "您"): a plain repeat tried 2^n splits before failing
    # (20 of them took 2 s); the possessive repeat tries one.
    import time

    started = time.process_time()
    assert engine.lint("不能" + "为您" * 200 + "哈", "jd") is not None
    assert time.process_time() - started < 0.5


# Second round: families that the first unseen dev batch (batch 6 in eval/chat_lint_labels.jsonl)
# showed missing. Every draft is our own writing.
@pytest.mark.parametrize(
    "draft",
    [
        # The agent cannot find or see it.
        "这个订单我这边查不到哦",
        "小妹这里看不到商品的参数呢",
        "抱歉，系统里找不到这个单子",
        "这边没法搜索到您要的信息",
        # 只能 with the status quo as the only "option".
        "换的话只能换同款的哦",
        "价格只能按照页面的来",
        # Something already done is no way forward for what is refused now.
        "已经给您安排了补发，是没办法再改地址的",
    ],
)
def test_not_finding_it_and_the_status_quo_are_refusals(engine, draft):
    for variant in _evasions(draft):
        assert "refusal" in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft",
    [
        "您那边暂时查不到物流是正常的，明天再看看",
        "查不到的话您告诉我，我来帮您处理",
        "这边查不到吗？",
        "只能帮您换开电子发票",
        "只能申请退货后重新下单",
        "一次只能连一台设备",
        "我帮您申请退款，无法再取消，您确认一下",
    ],
)
def test_the_buyers_page_a_question_and_real_alternatives_stay_clean(engine, draft):
    for variant in (draft, _S2TWP.convert(draft)):
        assert "refusal" not in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft",
    ["您现在去问问吧", "您先问一下他们那边", "这个安装需要联系美的的哦", "您可以问下对方"],
)
def test_sending_the_buyer_to_ask_is_deflecting(engine, draft):
    for variant in _evasions(draft):
        assert "deflecting" in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft",
    [
        "我帮您问一下",
        "请问一下您的订单号",
        "稍等，这边问下站点",
        "不需要联系厂家的，我们来处理",
        "您问一下我就好",
        "需要联系我们客服的话随时说",
        "您需要联系配送员的话，订单页有电话",
    ],
)
def test_the_agent_asking_and_jds_own_service_are_not_deflecting(engine, draft):
    for variant in (draft, _S2TWP.convert(draft)):
        assert "deflecting" not in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft", ["这个问题说了好几遍了", "您怎么又问这个", "不是已经跟您说过了吗", "刚才告诉你了啊"]
)
def test_saying_it_was_said_already_is_questioning(engine, draft):
    for variant in _evasions(draft):
        assert "questioning" in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft", ["我再给您说一遍哦", "之前跟您说的时间有变化，抱歉", "您是问发票吗", "电话打了三次都没人接"]
)
def test_explaining_again_is_not_questioning(engine, draft):
    for variant in (draft, _S2TWP.convert(draft)):
        assert "questioning" not in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft", ["是因为您没有仔细看详情页", "谁让您不看说明的", "这是快递那边的锅", "都怪您自己没确认"]
)
def test_the_buyer_not_looking_and_the_couriers_fault_are_blame(engine, draft):
    for variant in _evasions(draft):
        assert "blame" in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft",
    ["不是快递的错，我们来处理", "如果是因为您没收到短信，我再发一次", "因为您没在家，配送员改约明天了"],
)
def test_facts_and_conditions_are_not_blame(engine, draft):
    for variant in (draft, _S2TWP.convert(draft)):
        assert "blame" not in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft",
    [
        "本店商品恕不退换",
        "特价商品一律不退",
        "这个不在价保范围内哦",
        "您的订单不符合退货条件",
        "小妹这边权限不够",
        "这个我们管不了",
    ],
)
def test_formal_nos_and_outside_the_policy_are_refusals(engine, draft):
    for variant in _evasions(draft):
        assert "refusal" in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft",
    [
        "如果不符合条件，可以为您申请换货",
        "符合价保规则的话就可以申请成功",
        "不在家的话配送员会改约时间",
        "不符合条件吗？我帮您再看下",
    ],
)
def test_conditions_and_alternatives_beside_the_policy_are_clean(engine, draft):
    for variant in (draft, _S2TWP.convert(draft)):
        assert "refusal" not in _categories(engine, variant), variant


@pytest.mark.parametrize("draft", ["这个得问快递哦", "您问一下派件员吧", "请您与快递公司联系"])
def test_sending_the_buyer_to_ask_the_courier_is_deflecting(engine, draft):
    for variant in _evasions(draft):
        assert "deflecting" in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft",
    [
        "您可以自行联系配送员约时间",
        "您可以拨打配送员的电话",
        "拨打该站点电话就可以",
        "您可以拨打京东客服热线",
    ],
)
def test_coordinating_with_the_courier_is_not_deflecting(engine, draft):
    for variant in (draft, _S2TWP.convert(draft)):
        assert "deflecting" not in _categories(engine, variant), variant


@pytest.mark.parametrize("draft", ["我们没有这项服务", "这个真的没法弄", "没办法帮的呢"])
def test_no_such_service_and_cannot_do_it_are_refusals(engine, draft):
    for variant in _evasions(draft):
        assert "refusal" in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft", ["这款没有这个功能哦", "没法弄的话可以为您申请换货", "这个要怎么弄呢，我帮您看下"]
)
def test_product_facts_and_offers_are_not_refusals(engine, draft):
    for variant in (draft, _S2TWP.convert(draft)):
        assert "refusal" not in _categories(engine, variant), variant


def test_did_you_read_it_properly_is_questioning_but_a_reminder_is_not(engine):
    for variant in _evasions("您看清楚了吗"):
        assert "questioning" in _categories(engine, variant), variant
    assert "questioning" not in _categories(engine, "请您签收时看清楚外包装哦")


# Third round (stop 25): families that dev set 8 and the dev misses before it showed. Every
# draft is our own writing.
@pytest.mark.parametrize(
    "draft",
    [
        # "Only" + how far the service goes, as the whole answer.
        "这边一般只能送到乡镇上哦",
        "快递只到县城的呢",
        "配送师傅只负责送货的哈",
        # A "no" about a third party's station or service.
        "师傅是不负责上楼的",
        "您那里没有网点哦",
        "我们不提供上门安装服务",
        "的确没有上门取件的服务呢",
    ],
)
def test_what_the_service_does_not_reach_is_a_refusal(engine, draft):
    for variant in _evasions(draft):
        assert "refusal" in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft",
    [
        "只能送到自提点，您可以去自提点取一下",
        "附近没有站点的话，可以选择自提",
        "师傅只负责送货，安装会有专人上门",
        "是不是没有上门取件服务？",
        "订单里没有站点的信息，我来核实",
        "这款耳机只能连一台手机",
    ],
)
def test_a_way_forward_a_question_and_product_facts_beside_the_scope_are_clean(engine, draft):
    for variant in (draft, _S2TWP.convert(draft)):
        assert "refusal" not in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft",
    ["因为现在是活动期间哦", "亲，因为是双十一的原因呢", "催了也没用的哦", "建议您下次早点下单"],
)
def test_a_reason_or_next_time_as_the_whole_answer_is_a_refusal(engine, draft):
    for variant in _evasions(draft):
        assert "refusal" in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft",
    [
        "因为是大促期间，配送会慢一点，我帮您催一下",
        "下次购买也可以找我哦，这次我帮您处理好了",
        "如果催了也没用，我帮您申请取消",
        "因为是活动期间吗？",
        "您下次下单时选京东快递就好，这单我帮您催了",
    ],
)
def test_a_reason_with_what_happens_next_is_clean(engine, draft):
    for variant in (draft, _S2TWP.convert(draft)):
        assert "refusal" not in _categories(engine, variant), variant


@pytest.mark.parametrize("draft", ["这个要找美的那边哦", "您得问物业那边", "建议您咨询银行那边"])
def test_a_named_party_as_the_one_to_ask_is_deflecting(engine, draft):
    for variant in _evasions(draft):
        assert "deflecting" in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft",
    [
        "我这边找厂家那边问一下",
        "您要找的站点那边已经收到了",
        "您联系配送员那边就好",
        "需要找我们这边处理的话随时说",
    ],
)
def test_the_agent_asking_and_the_courier_are_not_deflecting_either(engine, draft):
    for variant in (draft, _S2TWP.convert(draft)):
        assert "deflecting" not in _categories(engine, variant), variant


# Round 4: wordings of the constructed set (eval/constructed_lint.jsonl) generalised; each draft
# here is new wording, not a line of that set.
@pytest.mark.parametrize(
    ("draft", "category"),
    [
        ("系统不让退的亲", "refusal"),
        ("这个退款金额没法调整的", "refusal"),
        ("订单号这边不能透露给您哦", "refusal"),
        ("包裹已经揽件了，追不回来了", "refusal"),
        ("补发申请不下来呢", "refusal"),
        ("那只能这样了", "refusal"),
        ("包装费是不退的哦", "refusal"),
        ("已经超出了七天的范围", "refusal"),
        ("我们这边没有预约配送的服务哦", "refusal"),
        ("这边也没有别的办法了", "refusal"),
        ("这单不能部分退的", "refusal"),
        ("您直接找快递员吧", "deflecting"),
        ("这种您还是去问品牌方", "deflecting"),
        ("您问问他们吧", "deflecting"),
        ("您可以打个电话问问", "deflecting"),
        ("您去快递公司投诉吧", "deflecting"),
        ("您得自己去跟卖家商量", "deflecting"),
        ("您催一下商家吧", "deflecting"),
        ("我们这边不管物流的", "deflecting"),
        ("是您没按时签收", "blame"),
        ("包裹是快递压坏的", "blame"),
        ("这个不是我们的责任", "blame"),
        ("这个怪不了我们", "blame"),
        ("您自己使用不当造成的", "blame"),
        ("嫌贵别买", "rude"),
        ("这么点事也要计较", "rude"),
        ("怎么还问", "questioning"),
        ("刚才不是跟您说过了吗", "questioning"),
        ("应该是今天发吧亲", "uncertain"),
    ],
)
def test_round_4_wordings_are_flagged(engine, draft, category):
    for variant in _evasions(draft):
        assert category in _categories(engine, variant), variant


@pytest.mark.parametrize(
    "draft",
    [
        "系统不让重复提交，我帮您换个方式申请",
        "这款耳机没有以旧换新的服务",
        "运费是不退的话，我帮您申请补偿",
        "只能等系统审核哦，审核好了会有短信通知您",
        "拦截申请不下来的话，您可以拒收",
        "我帮您问问他们，稍等",
        "我这边帮您催一下商家",
        "您可以联系配送员，他会跟您约时间",
        "不管您什么时候下单，我们都会及时发货",
        "物流的问题您放心，我这边跟进",
        "这不是您的问题，我来处理",
        "快递的问题请您稍等，我帮您查",
        "别买错了哦，这款是左手用的",
        "可能您填的地址有误，麻烦核对一下",
    ],
)
def test_round_4_clean_lines_that_share_the_words(engine, draft):
    assert _categories(engine, draft) == set(), draft
