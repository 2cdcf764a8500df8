"""The product's vocabulary: channels, kinds, topics, case statuses and
applicant types, each defined here once with the Chinese label staff and
citizens read.

Members are ``StrEnum``s: each is its stable key (``Kind.COMPLAINT ==
"complaint"``), so they are stored, compared, hashed and serialised as the
plain strings of shared/spec, and a dict keyed by them answers to the key.

Kinds and topics are also the classifier's label space (``nlp.labels``,
the order of its model's columns); nlp may not import this package, so a
test and the start-up check (``bot.app``) hold the two equal.
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    WECHAT = "wechat"
    HOTLINE = "hotline"
    PORTAL = "portal"
    PLATFORM = "platform"
    LETTER = "letter"
    IN_PERSON = "in_person"
    PHONE = "phone"
    EMAIL = "email"
    OTHER = "other"

    @property
    def label(self) -> str:
        return CHANNEL_LABELS[self]


CHANNEL_LABELS: dict[str, str] = {
    Channel.WECHAT: "微信公众号",
    Channel.HOTLINE: "12345热线",
    Channel.PORTAL: "门户网站",
    Channel.PLATFORM: "政府互动平台",
    Channel.LETTER: "信函",
    Channel.IN_PERSON: "来访",
    Channel.PHONE: "电话",
    Channel.EMAIL: "电子邮件",
    Channel.OTHER: "其他",
}
# Case-number prefixes: two letters read aloud easily over the phone.
CHANNEL_PREFIX: dict[str, str] = {
    Channel.WECHAT: "WX", Channel.HOTLINE: "RX", Channel.PORTAL: "WZ", Channel.PLATFORM: "PT",
    Channel.LETTER: "XH", Channel.IN_PERSON: "LF", Channel.PHONE: "DH", Channel.EMAIL: "YJ",
    Channel.OTHER: "QT",
}
CHANNELS: tuple[Channel, ...] = tuple(Channel)
# Channels whose answers leave through a machine (the outbox); the others
# record the answer and how staff delivered it.
OUTBOUND_CHANNELS: frozenset[str] = frozenset({Channel.WECHAT, Channel.HOTLINE})


class Kind(StrEnum):
    """What the writer wants (shared/spec/DOMAIN.md §2)."""

    CONSULTATION = "consultation"
    HELP = "help"
    COMPLAINT = "complaint"
    REPORT = "report"
    SUGGESTION = "suggestion"
    PRAISE = "praise"
    DISCLOSURE_REQUEST = "disclosure_request"
    OTHER = "other"

    @property
    def label(self) -> str:
        return KIND_LABELS[self]


KIND_LABELS: dict[str, str] = {
    Kind.CONSULTATION: "咨询",
    Kind.HELP: "求助",
    Kind.COMPLAINT: "投诉",
    Kind.REPORT: "举报",
    Kind.SUGGESTION: "建议",
    Kind.PRAISE: "表扬",
    Kind.DISCLOSURE_REQUEST: "政府信息公开申请",
    Kind.OTHER: "其他",
}
KINDS: tuple[Kind, ...] = tuple(Kind)
KIND_BY_LABEL: dict[str, Kind] = {label: Kind(key) for key, label in KIND_LABELS.items()}
# The 12345 platform's 诉求类型 (INTERFACES.md); 依申请公开 is not one of them.
HOTLINE_REQUEST_TYPES: dict[str, Kind] = {
    "咨询": Kind.CONSULTATION, "求助": Kind.HELP, "投诉": Kind.COMPLAINT, "举报": Kind.REPORT,
    "建议": Kind.SUGGESTION, "表扬": Kind.PRAISE, "其他": Kind.OTHER,
}


class Topic(StrEnum):
    """The office's subjects (a civil air defence office's, by default)."""

    PARKING = "parking"
    SHELTER = "shelter"
    SIREN = "siren"
    FEE = "fee"
    PERMIT = "permit"
    EDUCATION = "education"
    PROCUREMENT = "procurement"
    GENERAL = "general"

    @property
    def label(self) -> str:
        return TOPIC_LABELS[self]


TOPIC_LABELS: dict[str, str] = {
    Topic.PARKING: "人防车位",
    Topic.SHELTER: "人防工程",
    Topic.SIREN: "防空警报",
    Topic.FEE: "易地建设费/收费",
    Topic.PERMIT: "行政许可",
    Topic.EDUCATION: "宣传教育/演练",
    Topic.PROCUREMENT: "招投标/采购",
    Topic.GENERAL: "综合",
}
TOPICS: tuple[Topic, ...] = tuple(Topic)


class Status(StrEnum):
    """Where a case stands."""

    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"  # for the citizen: the deadline clock is paused
    ANSWERED = "answered"  # the final answer was given; 回访 follows
    CLOSED = "closed"
    RETURNED = "returned"  # not this office's remit: given back (退回), with the legal basis
    MERGED = "merged"  # a duplicate, merged into another case

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS: dict[str, str] = {
    Status.NEW: "新收", Status.ASSIGNED: "已分派", Status.IN_PROGRESS: "办理中",
    Status.WAITING: "待群众补充", Status.ANSWERED: "已答复", Status.CLOSED: "已办结",
    Status.RETURNED: "已退回", Status.MERGED: "已合并",
}
STATUSES: tuple[Status, ...] = tuple(Status)
OPEN_STATUSES: frozenset[Status] = frozenset({Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING})
# Open, and the deadline clock runs.
ACTIVE_STATUSES: tuple[Status, ...] = (Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS)
ANSWERED_STATUSES: frozenset[Status] = frozenset({Status.ANSWERED, Status.CLOSED})


class ApplicantType(StrEnum):
    """Who asks for government information: the columns of the annual
    report's table 三 (条例 第二十七条)."""

    NATURAL_PERSON = "natural_person"
    COMMERCIAL = "commercial"
    RESEARCH = "research"
    PUBLIC_WELFARE = "public_welfare"
    LEGAL_SERVICE = "legal_service"
    OTHER_ORG = "other_org"


APPLICANT_TYPES: tuple[ApplicantType, ...] = tuple(ApplicantType)
# As the official table 三 heads its columns (report_tables.json; a test holds them equal).
APPLICANT_TYPE_LABELS: dict[str, str] = {
    ApplicantType.NATURAL_PERSON: "自然人", ApplicantType.COMMERCIAL: "法人或其他组织·商业企业",
    ApplicantType.RESEARCH: "法人或其他组织·科研机构", ApplicantType.PUBLIC_WELFARE: "法人或其他组织·社会公益组织",
    ApplicantType.LEGAL_SERVICE: "法人或其他组织·法律服务机构", ApplicantType.OTHER_ORG: "法人或其他组织·其他",
}

# The outbox (answers that leave through a machine): where to, and how far.
OUTBOX_STATUS_LABELS: dict[str, str] = {"pending": "待发送", "sent": "已送达", "failed": "发送失败"}
OUTBOX_TARGET_LABELS: dict[str, str] = {"hotline": "12345平台", "wechat": "微信", "wechat_notice": "微信订阅通知"}

# Who set a case's kind and topic (``cases.classified_by``).
CLASSIFIED_BY_LABELS: dict[str, str] = {
    "rules": "规则", "model": "模型", "combined": "规则+模型", "staff": "人工", "feed": "来源",
}


class ReplyType(StrEnum):
    """What a reply to the citizen is."""

    FINAL = "final"  # the answer: the case is answered, 回访 begins
    INTERIM = "interim"  # 进展告知: changes no status
    REQUEST_INFO = "request_info"  # asks the citizen for more: the clock pauses

    @property
    def label(self) -> str:
        return REPLY_TYPE_LABELS[self]


REPLY_TYPE_LABELS: dict[str, str] = {
    ReplyType.FINAL: "正式答复（办结）", ReplyType.INTERIM: "进展告知", ReplyType.REQUEST_INFO: "请群众补充材料",
}
REPLY_TYPES: tuple[ReplyType, ...] = tuple(ReplyType)


class UrgeLevel(StrEnum):
    URGE = "催办"
    SUPERVISE = "督办"  # a leader's: stronger than 催办


URGE_LEVELS: tuple[UrgeLevel, ...] = tuple(UrgeLevel)


class RatingSource(StrEnum):
    CITIZEN = "citizen"  # on WeChat, after the answer
    STAFF = "staff"  # from a call or a visit (回访)
    PLATFORM = "platform"  # the 12345 platform's own 回访


RATING_SOURCES: tuple[RatingSource, ...] = tuple(RatingSource)
RATING_SOURCE_LABELS: dict[str, str] = {
    RatingSource.CITIZEN: "群众评价", RatingSource.STAFF: "工作人员回访", RatingSource.PLATFORM: "12345平台回访",
}
RATING_LABELS: dict[int, str] = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
SATISFIED_FROM = 3  # a rating of 3 or more is satisfied
