"""The kinds of behavioural evidence a level-5 feature asks for, in English and Chinese.

A competency's level-5 features are written by HR in plain words ("found out what the
customer really needed", "kept the people affected informed"). Each kind below is recognised
twice, the same way in any competency: in the feature's text (what it asks for) and in a
clause of the candidate's own story (what they did). A feature whose text names no kind is
matched to the kind whose description is nearest in meaning (`semantic.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    description: str  # for features whose words name no kind: nearest in meaning
    asks: re.Pattern[str]  # in a feature's text
    shows: re.Pattern[str]  # in a clause of the candidate's story


# A past form in a pattern also matches the other forms of the verb, so "I look the logs and
# find…" (non-native, no past tense) shows what "I looked at the logs and found…" shows.
_IRREGULAR = {
    "found": "find|found",
    "saw": "see|saw|seen",
    "took": "take|took|taken",
    "told": "tell|told",
    "kept": "keep|kept",
    "heard": "hear|heard",
    "wrote": "write|wrote|written",
    "made": "make|made",
    "got": "get|got|gotten",
    "gave": "give|gave|given",
    "brought": "bring|brought",
    "sent": "send|sent",
    "dug": "dig|dug",
    "drew": "draw|drew",
    "broke": "break|broke|broken",
    "understood": "understand|understood",
    "chose": "choose|chose|chosen",
    "rose": "rise|rose|risen",
    "fell": "fall|fell|fallen",
    "went": "go|goes|went|gone",
    "came": "come|came",
    "won": "win|won",
    "ran": "run|ran",
    "taught": "teach|taught",
    "set": "set",
    "put": "put",
    "stayed": "stay\\w*",
    "rewrote": "rewrite|rewrote|rewritten",
    "said": "say|says|said",
    "thought": "think|thought",
    "spent": "spend|spent",
    "built": "build|built",
    "met": "meet|met",
    "paid": "pay|paid",
    "sold": "sell|sold",
    "spoke": "speak|spoke",
}
_TOKEN = re.compile(r"\\.|[a-z]+|.", re.DOTALL)


def _forms(word: str) -> str:
    if word in _IRREGULAR:
        return f"(?:{_IRREGULAR[word]})"
    if len(word) >= 5 and word.endswith("ied"):
        return word[:-3] + "(?:y|ie)\\w*"
    if len(word) >= 5 and word.endswith("ed") and not word.endswith("eed"):
        stem = word[:-2]
        if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "ls":
            stem = stem[:-1]  # stopped → stop
        elif stem.endswith(("c", "s", "v", "z", "g", "u", "at", "it", "ur", "ar", "ir", "in")):
            stem = stem  # traced → trac…, used → us…, created → creat…
        return stem + "\\w*"
    return word


def _re(pattern: str) -> re.Pattern[str]:
    out = [_forms(t) if t.isalpha() and t.isascii() else t for t in _TOKEN.findall(pattern)]
    return re.compile("".join(out), re.IGNORECASE)


KINDS: tuple[Kind, ...] = (
    Kind(
        "outcome",
        "a concrete result that followed from what the candidate did",
        _re(r"result|outcome|measurabl|impact|effect|结果|效果|成果|可衡量"),
        # a figure is a result only with a change or a result word beside it ("dropped to
        # zero", "from 4 s to 200 ms"), never alone ("it would be twenty minutes")
        _re(
            r"^(?=.*(\d|%|\b(percent|zero|half|twice|doubled?|tripled|one|two|three|four|five|six|"
            r"seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|seventy|"
            r"eighty|ninety|hundred|thousand|million)\b))(?=.*\b(went|goes|dropped|fell|rose|cut|"
            r"reduced|increased|decreased|improved|saved|down|up|from|under|below|within|since|no "
            r"more|back to|faster|slower|fewer|lower|higher|grew|halved|closed|signed|sold|won|hit|"
            r"reached|beat|finished|came|ranked|top|approved|passed|only)\b)|"
            r"^(?=.*([零一二两三四五六七八九十百千万]|\d|%|分之))(?=.*(降|升|减少|提升|提高|增加|节省|到|"
            r"以内|以下|以上|超过|达到|完成|签|卖|拿到|排名|第一))|"
            r"\b(renewed|signed|stayed with (us|the company)|thanked me|wrote (a|us a) (review|"
            r"thank)|came back|(five|5)[- ]star|promoted|upgraded|kept (the|her|his|their) "
            r"(account|contract|business|subscription)|on time|didn't (call|ring|contact us) "
            r"(back|again)|never called back|decided to stay|stayed (with|a customer)|(she|he|"
            r"they) (said|wrote)( on chat)? (it|everything) (was|is) (fine|fast|working|great)|"
            r"left a (good|great|positive) review)\b|从.{1,12}到|续约|签了|签下|表扬|好评|"
            r"感谢信|回头|升级了|留下来"
            r"|\b(issue|problem) (was|is) (gone|resolved|solved|fixed)\b"
            r"|\b(have|has|had) (not|n't|never) (had|seen|happened|failed|broken|come back)\b"
            r".{0,60}\bsince\b"
            r"|\b(it|they|(the )?(calls?|parcel|order|delivery|internet|app|service|payment|"
            r"refund)) "
            r"(worked|works|was working|got there|was delivered|arrived|went through)\b"
        ),
    ),
    Kind(
        "prevent",
        "changed something so that the problem would not happen again",
        _re(
            r"again|recur|prevent|for good|lasting|happen|future|再次|再发生|预防|防止|长期|"
            r"不再|以后"
        ),
        _re(
            r"\b(since then|from then on|ever since|never again|no (repeat|more|longer)|"
            r"so (it|that|this) (would|wouldn't|won't|can't|cannot|doesn't|didn't|never)|"
            r"added (a|an|the)? ?(test|check|alert|step|rule|monitor|reminder|validation)|"
            r"(changed|updated|rewrote|fixed) (the|our|my) (process|guide|script|template|"
            r"checklist|way|docs|documentation|policy)|now (we|i) (always|check)|runbook|"
            r"checklist|template|has run|haven't had|have not had|hasn't happened|no failures?|"
            r"every \w+ since|(months?|weeks?|years?) since|since (that|this) (day|time)|auto[- ]?"
            r"renew|automated)\b|再也没|再没|之后都|"
            r"以后都|防止|规范|模板|清单|一直没|没有再|不再|自动化|加了.{0,6}(测试|检查|告警|监控)"
            r"|以后再也|避免|之后.{0,6}(没|再)|写进|定成|复盘|校验"
        ),
    ),
    Kind(
        "process",
        "improved the way the team or the process works",
        _re(r"process|way of working|team's way|practice|tooling|system|流程|做法|机制|制度"),
        _re(
            r"\b(process|runbook|checklist|template|guide|documented|wrote (down|up|a)|"
            r"automated|dashboard|rule|policy|practice|for the (team|others|next)|so the team|"
            r"the whole team|everyone (now|uses|started))\b|流程|文档|模板|清单|规范|机制|"
            r"大家都|团队都|后来团队|自动化"
        ),
    ),
    Kind(
        "understand",
        "asked, listened and found out what was really going on before acting",
        _re(
            r"understood|understand|listen|found out|find out|cause|point of view|concern|"
            r"diagnos|evidence|investig|actually needed|really needed|what .{0,20} needed|理解|"
            r"了解|倾听|询问|原因|需求|顾虑|听取|证据|真正|弄清"
        ),
        _re(
            r"\b(asked (him|her|them|what|why|how|about|if|whether|questions|for)|listened|"
            r"found out|figured out|turned out|realised|realized|understood|wanted to know|"
            r"dug (into|in)|looked (into|at|the|in|through)|checked (whether|if|the)|noticed|saw ("
            r"that|it|"
            r"every|the)|compared|reproduced|traced|narrowed|profiled|pulled (the|up)|"
            r"investigated|diagnosed|found|learned that|heard (her|him|them) "
            r"out|let (her|him|them) (talk|explain|finish)|what (she|he|they) (really )?"
            r"(needed|wanted|meant))\b|问了|问他|问她|问客户|询问|了解到|了解了|听(了|完|取)|"
            r"发现|原来|弄清|搞清|对比|复现|定位|查到|查了|分析"
            r"|排查|找到(了)?原因|搞明白|问清楚|让(她|他|客户).{0,8}说完|先听|看了.{0,4}(监控|"
            r"日志|数据|记录)"
            r"|\b(discovered|enquired|inquired|established that|worked out|identified)\b"
        ),
    ),
    Kind(
        "reason",
        "weighed options and chose one for a stated reason",
        _re(r"option|alternative|weigh|chose|choice|reason|trade|比较|权衡|方案|理由|选择"),
        _re(
            r"\b(instead( of)?|rather than|because|could have|might have|thought about|"
            r"considered|one option|the other option|so i (chose|decided|went with|picked)|weighed|"
            r"trade-?offs?|options?|alternatives?|pros and cons|decided (to|on|against)|chose|"
            r"the reason|better than|would (have )?(hidden|only|just)|workaround|not just)\b|"
            r"而不是|因为|权衡|方案|选择|比较了|决定|与其|治标"
        ),
    ),
    Kind(
        "inform",
        "kept the people affected informed and explained clearly",
        _re(
            r"inform|update|told|tell|explain|communicat|clear|plain|simple|checked .*understood|"
            r"告知|通知|同步|沟通|解释|说明|清楚|通俗"
        ),
        _re(
            r"\b(told|updated|informed|explained|called (him|her|them|back|the)|emailed|"
            r"wrote (to|up|a message)|let (him|her|them|everyone) know|kept (him|her|them|"
            r"everyone|the \w+) (updated|informed|posted|in the loop)|summari[sz]ed|walked "
            r"(him|her|them) through|showed (him|her|them)|drew|example|in plain|simple words|"
            r"step by step|repeated back|checked (that )?(she|he|they) understood|apologi[sz]ed)\b|"
            r"告诉|通知|同步|解释|说明|沟通|汇报|发了.{0,4}(邮件|消息)|打比方|举例|一步一步|"
            r"确认.{0,4}(明白|理解|听懂)"
            r"|对吧|您是说|复述|我重复"
        ),
    ),
    Kind(
        "follow_up",
        "followed up afterwards to make sure it held",
        _re(
            r"follow(ed)? up|follow-up|check(ed)? back|called back|afterwards|跟进|回访|事后|再联系"
        ),
        _re(
            r"\b(followed up|follow-?up|checked (back|in|on)|called (her|him|them) (back|again|"
            r"later)|the next (day|week|morning)|a (day|week|few days) later|later that|"
            r"kept checking|made sure)\b|回访|跟进|第二天|过了.{1,4}(天|周)|确认.{0,6}(好了|解决)"
            r"|\b((rang|called|phoned|emailed|messaged|texted|call|ring|phone) (her|him|them|"
            r"back)( \w+)? (the )?next (day|morning|week|monday|tuesday|wednesday|thursday|"
            r"friday|saturday|sunday)|next (morning|day|week) i (call|called|rang|ring|phoned|"
            r"checked|emailed))\b"
        ),
    ),
    Kind(
        "completion",
        "carried the work through to the end personally",
        _re(
            r"carried .{0,20}through|through to the end|to the end|saw it through|complet|deliver|"
            r"到底|落实|交付"
        ),
        _re(
            r"\b(shipped|delivered|finished|completed|deployed|rolled (it )?out|released|"
            r"the same day|that (night|evening|afternoon)|by the end of|saw it through|until it "
            r"was|restored|got it (done|working|back))\b|上线|交付|完成|当天|当晚|修好|恢复了"
            r"|\b((work|working|worked|going|running|back) again|back (up|online|to normal)|"
            r"(was|were) (going|working) (through )?again)\b"
        ),
    ),
    Kind(
        "relationship",
        "the working relationship was better afterwards",
        _re(r"relationship|trust|rapport|better afterwards|关系|信任"),
        _re(
            r"\b(since then (we|she|he|they)|(she|he|they) (later )?(said|thanked|told me|asked me|"
            r"came to me)|(we|our) (still|now) work|trust|friends|good (terms|relationship)|"
            r"work(ed)? well together|(became|kept \w+( \w+)? as) (a|the|our) (team )?(rule|practi"
            r"ce|"
            r"habit|standard|way)|team rule)\b|关系|信任|之后.{0,6}(合作|一起)|她说|他说|"
            r"后来团队|团队都"
        ),
    ),
    Kind(
        "calm",
        "stayed calm and in control under pressure",
        _re(r"calm|composed|pressure|stress|emotion|temper|冷静|压力|情绪|镇定"),
        _re(
            r"\b(stayed calm|kept calm|calm(ly|ed)?|took a (deep )?breath|breathed|paused|"
            r"didn't (panic|take it personally|get upset|raise)|kept my (voice|tone|cool)|"
            r"stayed (polite|focused|patient)|one (thing|step) at a time|focused on)\b|"
            r"冷静|深呼吸|没有慌|不慌|保持.{0,4}(耐心|礼貌|语气)|一件一件|先稳住|情绪"
            r"|\b(not (at )?me|didn't take it personally|not personal|reminded myself|"
            r"told myself|breath\w*|counted to)\b"
        ),
    ),
    Kind(
        "prioritise",
        "planned and prioritised the work to get through it",
        _re(r"priorit|plan|organi[sz]|order|sequence|优先|计划|安排|排序"),
        _re(
            r"\b(prioriti[sz]ed|priorit(y|ies)|made a (list|plan)|planned|split (it|the work)|"
            r"broke (it|the work) (down|into)|first i|started with the|most urgent|"
            r"scheduled|blocked (out|time)|sorted (them|the)|time ?box)\b|优先|列了|计划|"
            r"安排|排序|拆成|先处理|最紧急"
        ),
    ),
    Kind(
        "support",
        "helped and supported the others in the team and shared credit",
        _re(r"help|support|share|credit|mentor|others|teammate|帮助|支持|分享|功劳|指导"),
        _re(
            r"\b(helped|pair(ed)? (with|up)|paired|supported|mentored|showed (him|her|them)|taught"
            r"|covered for|"
            r"took over (his|her|their)|offered|shared|gave (her|him|them) (the )?credit|"
            r"credit to|thanked (him|her|them|the team)|reviewed (his|her|their)|stayed late "
            r"to help|split the work)\b|帮(他|她|忙|助)|结对|支持|分享|教(他|她)|功劳|感谢(他|"
            r"她|大家)|分工"
            r"|补了|替(他|她)|分担|接过|带(他|她)|一起(改|做|查|弄)"
            r"|主要是(他|她)|多亏|(他|她)的(方案|功劳|贡献)"
            r"|\b((wrote|made|built|set up|gave|fixed) (her|him|them) (a|an|the|some)|"
            r"took (some|part|half|one|two) of (her|his|their)|picked up (her|his|their)|"
            r"covered (for )?(her|him|them)|unblocked)\b"
            r"|\b(because of (her|him|them)|thanks to (her|him|them)|(was|were) all (hers|his|"
            r"theirs)|named (her|him|them)|their (work|idea|part)|her (work|idea|part)|"
            r"his (work|idea|part))\b"
        ),
    ),
    Kind(
        "agreement",
        "reached an agreement together that works for both sides",
        _re(
            r"agree|together|both|consensus|compromis|win|decision|disagree|friction|conflict|协商|"
            r"一起|双方|共识|一致|共赢|决定|分歧|摩擦|矛盾|冲突"
        ),
        _re(
            r"\b(agreed|we decided|decided together|together|compromise|consensus|both (sides|of "
            r"us)|middle ground|met (halfway|in the middle)|settled on|aligned|win-win|deal|"
            r"in exchange|in return|trial|experiment)\b|一起|双方|共识|一致|商量|协商|折中|"
            r"达成|试用|交换"
            r"|提议|建议.{0,4}(一起|各自|先)|用了(他|她)的|同意|接受了|按(他|她)的|采纳|跑一遍|各自"
            r"|\b(asked (her|him|them) (privately|directly|openly|why)|talked to (her|him|"
            r"them) (privately|directly|one[- ]on[- ]one)|sat down with|cleared the air|"
            r"from then on (she|he|they))\b"
        ),
    ),
    Kind(
        "feedback",
        "asked for feedback and acted on it",
        _re(r"feedback|criticism|review|coach|反馈|意见|批评|建议"),
        _re(
            r"\b(asked (for|my \w+ for) (feedback|advice|input|a review)|feedback|took (it|the "
            r"advice|the comments) on board|changed (my|the) (approach|way)|acted on|"
            r"suggestions?|comments|criticism)\b|反馈|意见|建议|请教|批评|改进了"
            r"|\b(asked (my|a|the|our) (mentor|lead|manager|senior|colleague|reviewer|teacher|"
            r"tutor|supervisor)( to)? (go through|review|look at|check|show)|(did|rewrote|redid|"
            r"changed|wrote) (it|them|my( \w+){1,3}) (the way|like|as) (she|he|they) (showed|"
            r"suggested|said|told)|review comments)\b"
        ),
    ),
    Kind(
        "learn",
        "learned something new quickly on their own and applied it",
        _re(r"learn|new|skill|study|knowledge|appl|mistake|lesson|学习|学会|新的|技能|应用|教训"),
        _re(
            r"\b(learned|learnt|studied|read (the|a|up|about)|course|tutorials?|documentation|tour|"
            r"guide|book|videos?|examples|"
            r"docs|practised|practiced|taught myself|watched|built a (small|toy|test)|"
            r"tried it out|applied|used (it|what i learned)|next time|lesson|by the end of|"
            r"within (a|two|three|\d+) (days?|weeks?))\b|学了|学会|自学|看了.{0,4}(文档|教程|"
            r"书|视频)|"
            r"练习|课程|用到|应用|教训|下次"
        ),
    ),
    Kind(
        "persist",
        "kept going after setbacks and rejection and tried another way",
        _re(
            r"persist|setback|reject|give up|keep going|kept going|target|goal|ambitio|坚持|"
            r"挫折|拒绝|目标"
        ),
        _re(
            r"\b(kept (going|trying|calling|at it)|tried again|didn't give up|did not give up|"
            r"another (way|approach|angle)|again the next|followed up|set (myself|a) (target|goal)|"
            r"target|goal|quota|extra (calls|hours)|every (day|morning|week) i)\b|坚持|又打|"
            r"再次|没有放弃|换了.{0,4}(方法|方式|思路)|目标|每天"
        ),
    ),
    Kind(
        "ownership",
        "took responsibility personally, including for their own mistake",
        _re(r"responsib|accountab|own mistake|without being asked|themselves|负责|责任|承担|主动"),
        _re(
            r"\b(my (mistake|fault|bug|error|responsibility|change|code)|i (owned|took "
            r"(responsibility|charge|ownership))|i volunteered|i stepped up|nobody (else )?was|"
            r"wasn't assigned|without being asked|on my own initiative|i admitted|i apologi[sz]ed|"
            r"i was on call)\b|我的(错|失误|问题|责任)|主动|承担|负责|认错|道歉"
            r"|\b((wasn't|was not|not) my (shift|job|area|code|task|responsibility)|"
            r"i took (it|it on|over|charge)|stepped in|so i took)\b"
        ),
    ),
)

KINDS += (
    Kind(
        "resolve",
        "solved the problem themselves instead of passing it on",
        _re(r"\bsolved|resolved|fixed|sorted|solve\b|解决|处理好|办好"),
        _re(
            r"\b(refund\w*|rebook\w*|replac\w*|credit\w*|arrang\w*|sorted|fixed|solved|resolved|"
            r"set up|moved (her|him|them|it)|sent (her|him|them) (a|the|an)|booked|changed (her|hi"
            r"s|"
            r"their|the)|upgraded|cancel\w*|processed|restored|reset|switched|waived|found (her|"
            r"him|them) (a|an|the))\b|退款|补发|换了|改了|办好|解决了|处理好|安排了|重新|帮(他|她)"
            r"(办|改|换|退|查|订|申请)"
            r"|\b(sorted (it|this|that|the \w+) out|sorted out|dealt with it|took care of it)\b"
        ),
    ),
    Kind(
        "adapt",
        "adapted the words, pace or channel to the listener",
        _re(
            r"adapt|tailor|jargon|plain (words|language)|example|pace|channel|audience|listener|"
            r"summary|调整|术语|举例|通俗|语速|书面"
        ),
        _re(
            r"\b(instead of (reading|using|saying|the)|in plain|simple (words|terms)|no jargon|"
            r"without (the )?(jargon|technical)|for example|drew|diagram|picture|slowly|slowed "
            r"down|step by step|wrote (it )?(down|out)|(sent|emailed|texted) (her|him|them) (a|the"
            r") "
            r"(summary|steps|guide|screenshot|link)|screenshots?|analogy|compared it to|it's "
            r"(like|the)|like a)\b|打比方|举了?例|像.{1,8}一样|用.{0,4}(简单|通俗|大白话)|慢慢|"
            r"一步一步|画了|截图|发了.{0,6}(总结|步骤|说明)|换成|不说术语|换了?(个|种)说法"
            r"|不说.{0,8}(词|术语)|就说|用.{0,6}(话|说法)|比如"
        ),
    ),
    Kind(
        "check",
        "checked that the other person had understood",
        _re(r"checked .{0,30}understood|say it back|repeat|confirm|确认|复述|听懂"),
        _re(
            r"\b(asked (her|him|them) to (tell|say|repeat|show|try|do|read)|say it back|"
            r"repeat\w* (it )?back|(while|still) on the (line|phone|call)|checked (that |whether |"
            r"if )?(she|he|they) (understood|could|had|knew)|made sure (she|he|they) (understood|"
            r"could|knew)|walked (her|him|them) through|did (it|the step|each step) together)\b|"
            r"复述|确认.{0,6}(听懂|明白|理解|会了)|当场|在电话里.{0,6}(操作|试)|让(他|她).{0,8}"
            r"(试|操作|说一遍|讲一遍)"
            r"|让(她|他|客户).{0,10}(告诉|说|念|读|操作|试)|每一步"
        ),
    ),
    Kind(
        "tactic",
        "a concrete tactic to stay effective under pressure",
        _re(r"tactic|vent|offer|boundar|prioriti|technique|方法|发泄|界限|方案|优先"),
        _re(
            r"\b(let (her|him|them) (vent|talk|finish|speak)|didn't interrupt|offered|gave (her|"
            r"him|them) (two|a|the) (options?|choices?)|set a (limit|boundary)|(if|unless) (she|"
            r"he|they) (kept|continued)|prioriti[sz]ed|one at a time|acknowledg\w*|apologi[sz]ed|"
            r"wrote down|took notes|lowered my voice|muted)\b|让(他|她)(发泄|说完)|没有打断|"
            r"给了?.{0,4}(方案|选择|选项)|界限|先处理|一个一个|道歉|记下"
            r"|\b(logged (each|every|the)|same (three|two|four) (facts|points|things)|script|"
            r"wrote (it )?down)\b"
        ),
    ),
    Kind(
        "recover",
        "did something to recover afterwards, like a short break or a word with the team lead",
        _re(r"recover|break|reset|carry on|carrying on|休息|恢复|缓"),
        _re(
            r"\b(took a (short |quick |five[- ]minute |two[- ]minute |ten[- ]minute )?(break|walk|"
            r"minute|breather)|stepped away|got (a|some) (water|tea|coffee|air)|talked to (my|the) "
            r"(team lead|manager|supervisor|colleague)|debrief\w*|shook it off|went back to the "
            r"queue|(took|picked up) the next call)\b|休息|喝(了)?(口)?(水|茶)|走了?一圈|跟组长|"
            r"找组长|缓一缓|缓了|下一个电话|调整(了)?(一下|心态)"
            r"|\b(went for a (run|walk|coffee)|after (the|my) shift|when i got home|"
            r"didn't check (the )?work)\b"
        ),
    ),
    Kind(
        "shared_goal",
        "worked toward the team's shared goal, not only their own task",
        _re(r"shared goal|common goal|team's goal|whole team|not only .{0,12}own|共同目标|整体"),
        _re(
            r"\b(so (we|the team) could|for the team|whole team|everyone's|(took|picked) (up|on) "
            r"(the|a|an) \w+ (nobody|no one)|outside my (part|task)|not (just|only) my|the (team|"
            r"project|release|launch|demo|deadline|sprint) (goal|was|needed)|(we|the team) "
            r"(finished|shipped|delivered|launched|made (it|the deadline)))\b|整个团队|共同|"
            r"大家的|不是我的(任务|部分)|主动接|帮大家|按时上线|一起完成"
            r"|\b(we|the team) (cleared|finished|shipped|delivered|launched|submitted|hit|"
            r"made|still submitted|got)\b"
        ),
    ),
)

# Kinds that sales and negotiation rubrics ask for (written from how such rubrics read, not
# from any answer)
KINDS += (
    Kind(
        "trade",
        "traded a concession for something in return",
        _re(r"trade|concession|in return|exchange|give and get|让步|交换|换取"),
        _re(
            r"\b(in (return|exchange)|on condition|provided (that)?|traded|swapped|as long as|if "
            r"(they|you|she|he) (would|could|signed|committed|agreed|paid))\b|换取|条件是|作为交换|"
            r"前提是|如果(他们|对方|客户).{0,6}(签|同意|承诺|付)"
        ),
    ),
    Kind(
        "limit",
        "held a firm limit and would walk away below it",
        _re(r"limit|walk away|floor|bottom line|firm|below|底线|底价|坚持|不低于"),
        _re(
            r"\b((my|our) (limit|floor|bottom line)|couldn't go (below|lower|under)|wouldn't go "
            r"(below|lower)|held (firm|the price|my ground)|walked away|said no to|refused to "
            r"(drop|go|discount)|no (further|more) discount|kept the price)\b|底线|底价|不能再低|"
            r"坚持了?(价格|原价)|拒绝了?(降价|打折)"
        ),
    ),
    Kind(
        "confirm",
        "summarised what they heard and confirmed it with the other person",
        _re(r"confirm|summar|play(ed)? back|确认|总结|复述"),
        _re(
            r"\b(summari[sz]ed|played (it )?back|so what (you|i) (hear|heard)|(confirmed|checked) "
            r"(with|that) (her|him|them|the client|the customer)|is that right|did i get that "
            r"right|read (it|them) back)\b|总结|确认|复述|对吗|是不是这样"
        ),
    ),
    Kind(
        "tailor",
        "tailored the offer to what this client needed",
        _re(r"tailor|fit|match|customi[sz]|proposal|offer|pitch|定制|匹配"),
        _re(
            r"\b((only|just) (the|what) .{0,20}need\w*|built (the|a|my) (proposal|quote|offer|"
            r"demo)|cut (out|down)|left out|dropped the|instead of the (full|standard|premium)|"
            r"(smaller|cheaper|basic|starter|lighter) (plan|package|version|tier|option)|based on "
            r"(what|her|his|their))\b|针对|只(推|报|给)|按(他|她|客户|对方)的需求|定制|去掉"
        ),
    ),
    Kind(
        "questions",
        "asked open questions before proposing anything",
        _re(r"open question|questions|before pitch|before proposing|提问|开放式"),
        _re(
            r"\b(asked (her|him|them|the client|the customer) (what|how|why|about|to walk me)|"
            r"(what|how) (does|do|did|would) (your|their|the)|before (i )?(pitch|present|talk "
            r"about|demo|offer)|(let|had) (her|him|them) (talk|explain))\b|问(了|他|她|客户|对方)|"
            r"先(问|听)|了解(了)?(他们|客户|对方)"
        ),
    ),
    Kind(
        "stretch",
        "set themselves a target above what was asked",
        _re(r"stretch|ambitio|target|above what|beyond what|超额|挑战|更高的目标"),
        _re(
            r"\b((set|gave) (myself|me) (a|an)|(above|beyond|higher than|more than) (my|the) "
            r"(quota|target)|stretch|(double|twice|triple) (the|my) (quota|target)|my own "
            r"target)\b|给自己定|超额|翻倍|目标"
        ),
    ),
    Kind(
        "method",
        "changed their own method after looking at what worked",
        _re(r"own method|approach|improv|changed how|analy|改进.{0,4}(方法|做法)|分析"),
        _re(
            r"\b(changed (my|how i|the way i) (approach|script|pitch|opening|method|calls?|"
            r"emails?)|tracked (my|which|every)|(looked|went) (back )?(at|through) (my|which|the) "
            r"(calls|numbers|data|notes|recordings)|tested (two|different)|new (script|opening|"
            r"approach))\b|改了.{0,6}(方法|话术|开场|做法)|记录|复盘|分析了"
        ),
    ),
)

BY_NAME = {k.name: k for k in KINDS}


def kinds_asked(feature_text: str) -> list[str]:
    """The kinds a feature's words name most."""
    counts = {k.name: len(k.asks.findall(feature_text)) for k in KINDS}
    top = max(counts.values(), default=0)
    if top == 0:
        return []
    return [name for name, n in counts.items() if n == top]
