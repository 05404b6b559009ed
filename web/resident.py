"""Resident booking pages (mobile-first, Chinese by default, English on request).

Three pages, all thin shells over the resident API (``/api/v1/bookings``) driven by
``static/resident.js``:

* ``/book`` — place (address + a point on the map), materials with a rough weight, a
  slot from the suggestions, then the booking itself;
* ``/book/confirmed/<reference>`` — the reference, big, and a link to the status page;
* ``/book/status`` — reference + phone -> status, history and cancel.

The language is ``?lang=zh|en`` (remembered in a cookie), else the cookie, else Chinese.
Every string a resident reads, in the templates and in the script, comes from
:data:`STRINGS` — one dictionary per language with the same keys.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    make_response,
    render_template,
    request,
    url_for,
)

from dispatch.booking import (
    CANCELLABLE,
    HORIZON_DAYS,
    MAX_ITEM_KG,
    MAX_M3,
    MAX_TOTAL_KG,
    SERVICE_HOURS,
    STATUSES,
)
from dispatch.materials import (
    DEFAULT_M3_PER_KG,
    MATERIALS,
    TAIL_LIFT_MATERIALS,
    VOLUME_M3_PER_KG,
)
from dispatch.settings import TIMEZONE
from web import state
from web.auth import csrf_token, current

bp = Blueprint("resident", __name__)

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
LANG_COOKIE = "loopvan_lang"
HTML_LANG = {"zh": "zh-CN", "en": "en"}

#: What a booking reference may look like in a URL (``BK-261201-7KQ4MZ``, demo ``BK-261201-0001``).
REFERENCE = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,39}$")

#: Rough quantities offered as one tap each: (key in STRINGS, kg).
PRESETS: tuple[tuple[str, int], ...] = (("size.small", 5), ("size.box", 15), ("size.large", 50))


STRINGS: dict[str, dict[str, str]] = {
    "zh": {
        "app": "Loopvan 上门回收",
        "lang.other": "English",
        "nav.book": "预约",
        "nav.status": "查询预约",
        "book.title": "预约上门回收",
        "book.intro": "告诉我们地点和物品，选一个方便的时段，回收车上门收取。",
        "step.place": "地点与联系方式",
        "step.materials": "物品与大致重量",
        "step.slot": "上门时段",
        "field.name": "称呼",
        "field.name_hint": "如：王女士",
        "field.phone": "手机号码",
        "field.phone_hint": "查询或取消预约时需要",
        "field.address": "详细地址",
        "field.address_hint": "如：福田区景田路 12 号 3 栋 1201",
        "map.hint": "在地图上点一下回收车停靠的位置，可拖动标记微调。",
        "map.loading": "正在加载地图…",
        "map.failed": "底图加载失败，仍可在地图上点选位置。",
        "map.locate": "使用我的位置",
        "map.locating": "正在定位…",
        "map.locate_failed": "无法获取您的位置，请在地图上点选。",
        "map.none": "尚未选择地点",
        "map.picked": "已选位置 {lat}, {lon}",
        "map.served": "{district} · 在服务范围内",
        "street.found": "按街道定位：",
        "street.outside": "不在服务范围",
        "street.placed": "已定位到{street}。请点一下您楼下的具体位置，或拖动标记。",
        "mat.paper": "纸类（纸箱、报纸、书本）",
        "mat.metal": "金属（易拉罐、锅具）",
        "mat.plastic": "塑料（瓶子、容器）",
        "mat.glass": "玻璃（瓶罐）",
        "mat.textiles": "旧衣物、纺织品",
        "mat.e_waste": "电子产品（手机、电脑、小家电）",
        "mat.furniture": "旧家具",
        "mat.appliances": "大家电（冰箱、洗衣机、空调）",
        "mat.bulky": "大件，需尾板车",
        "size.small": "小袋 ≈5 公斤",
        "size.box": "一箱 ≈15 公斤",
        "size.large": "大件 ≈50 公斤",
        "qty.kg": "公斤",
        "qty.less": "减少",
        "qty.more": "增加",
        "qty.total": "合计约 {kg} 公斤",
        "slot.need": "选好地点和物品后，这里会推荐可预约的时段。",
        "slot.loading": "正在查找可预约的时段…",
        "slot.none": "近几天没有可预约的时段。",
        "slot.failed": "暂时无法获取时段，请重试。",
        "slot.fix": "请先修改上面标出的内容。",
        "slot.retry": "重试",
        "slot.more": "查看更多日期",
        "slot.best": "推荐",
        "slot.tomorrow": "明天",
        "slot.day_full": "当天已约满",
        "slot.unavailable": "不可预约：",
        "slot.chosen": "已选：{date} {start}–{end}",
        "slot.not_chosen": "尚未选择时段",
        "reason.no_room": "已约满",
        "reason.window_full": "已约满",
        "reason.fleet_full": "当天已约满",
        "reason.no_van_window": "无车辆服务",
        "reason.no_van": "本区暂无车辆可收",
        "reason.unreachable": "车辆无法到达",
        "reason.other": "不可预约",
        "submit": "确认预约",
        "submitting": "正在提交…",
        "err.required": "请填写此项",
        "err.too_long": "内容太长",
        "err.phone": "请输入有效的手机号码",
        "err.point": "请在地图上选择地点",
        "err.outside": "该地点不在我们的服务区域内",
        "err.far_road": "该地点离车辆可通行的道路太远，请选在路边附近",
        "err.materials": "请至少选择一种物品",
        "err.kg": "重量须大于 0 且不超过 {max} 公斤",
        "err.total": "一次上门最多回收 {max} 公斤",
        "err.slot": "请选择一个上门时段",
        "err.date": "该日期不可预约，请重新选择时段",
        "err.window": "该时段不可预约，请重新选择",
        "err.form": "请修改标出的内容后再提交。",
        "err.network": "网络异常，请重试（重试不会重复预约）。",
        "err.server": "服务暂时不可用，请稍后再试。",
        "done.title": "预约成功",
        "done.ref": "预约编号",
        "done.keep": "请保存预约编号。凭编号和手机号码可以查询或取消预约。",
        "done.copy": "复制编号",
        "done.copied": "已复制",
        "done.details": "预约详情",
        "done.status": "查看预约状态",
        "done.again": "再预约一次",
        "status.title": "查询预约",
        "status.intro": "输入预约编号和预约时留的手机号码。",
        "status.ref": "预约编号",
        "status.phone": "手机号码",
        "status.lookup": "查询",
        "status.loading": "正在查询…",
        "status.not_found": "没有找到该预约，请检查预约编号和手机号码。",
        "status.recent": "最近的预约",
        "status.when": "上门时间",
        "status.address": "地址",
        "status.materials": "物品",
        "status.history": "进度",
        "status.cancel": "取消预约",
        "status.cancel_title": "确定要取消这次预约吗？",
        "status.cancel_reason": "取消原因（可选）",
        "status.cancel_yes": "确定取消",
        "status.cancel_no": "不取消",
        "status.cancelled_ok": "预约已取消。",
        "status.cannot_cancel": "此预约已无法取消（车辆可能已出发）。",
        "status.book": "预约上门回收",
        "st.requested": "已提交",
        "st.queued": "等待排班",
        "st.planned": "已排入路线",
        "st.dispatched": "车辆已出发",
        "st.collected": "已回收",
        "st.missed": "未能上门",
        "st.cancelled": "已取消",
        "actor.resident": "您",
        "actor.system": "系统",
        "actor.staff": "工作人员",
        "note.validated": "信息核对无误",
    },
    "en": {
        "app": "Loopvan recycling",
        "lang.other": "中文",
        "nav.book": "Book",
        "nav.status": "My booking",
        "book.title": "Book a recycling pickup",
        "book.intro": "Tell us where and what, pick a time that suits you, and a van comes to your door.",
        "step.place": "Place and contact",
        "step.materials": "What, and roughly how much",
        "step.slot": "Pickup time",
        "field.name": "Name",
        "field.name_hint": "e.g. Ms Wang",
        "field.phone": "Mobile phone",
        "field.phone_hint": "You need it to check or cancel the booking",
        "field.address": "Address",
        "field.address_hint": "e.g. Flat 1201, Block 3, 12 Jingtian Rd, Futian",
        "map.hint": "Tap the map where the van should stop; drag the pin to adjust.",
        "map.loading": "Loading the map…",
        "map.failed": "The base map could not load; you can still tap a point.",
        "map.locate": "Use my location",
        "map.locating": "Finding you…",
        "map.locate_failed": "Could not get your location; tap the map instead.",
        "map.none": "No place chosen yet",
        "map.picked": "Chosen point {lat}, {lon}",
        "map.served": "{district} · within our service area",
        "street.found": "Put the pin on your street:",
        "street.outside": "outside our service area",
        "street.placed": "Moved to {street}. Tap the exact spot by your building, or drag the pin.",
        "mat.paper": "Paper (cardboard, newspapers, books)",
        "mat.metal": "Metal (cans, pots)",
        "mat.plastic": "Plastic (bottles, containers)",
        "mat.glass": "Glass (bottles, jars)",
        "mat.textiles": "Clothes and textiles",
        "mat.e_waste": "Electronics (phones, computers, small appliances)",
        "mat.furniture": "Furniture",
        "mat.appliances": "Large appliances (fridge, washer, air conditioner)",
        "mat.bulky": "bulky: needs a tail-lift van",
        "size.small": "Small bag ≈5 kg",
        "size.box": "Box ≈15 kg",
        "size.large": "Large ≈50 kg",
        "qty.kg": "kg",
        "qty.less": "Less",
        "qty.more": "More",
        "qty.total": "About {kg} kg in all",
        "slot.need": "Once the place and the materials are chosen, free times show up here.",
        "slot.loading": "Finding times that work…",
        "slot.none": "No time is free in the coming days.",
        "slot.failed": "Could not fetch the times; please try again.",
        "slot.fix": "Please fix the marked fields above first.",
        "slot.retry": "Try again",
        "slot.more": "Show more days",
        "slot.best": "Best",
        "slot.tomorrow": "Tomorrow",
        "slot.day_full": "Fully booked",
        "slot.unavailable": "Unavailable:",
        "slot.chosen": "Chosen: {date} {start}–{end}",
        "slot.not_chosen": "No time chosen yet",
        "reason.no_room": "full",
        "reason.window_full": "full",
        "reason.fleet_full": "full that day",
        "reason.no_van_window": "no van at that time",
        "reason.no_van": "no van here can take it",
        "reason.unreachable": "no van can reach it",
        "reason.other": "unavailable",
        "submit": "Confirm booking",
        "submitting": "Booking…",
        "err.required": "Please fill this in",
        "err.too_long": "Too long",
        "err.phone": "Enter a valid mobile number",
        "err.point": "Tap the map to choose the place",
        "err.outside": "We do not serve this place",
        "err.far_road": "This point is too far from a road a van can use; choose a point by a street",
        "err.materials": "Choose at least one material",
        "err.kg": "The weight must be more than 0 and at most {max} kg",
        "err.total": "One pickup takes at most {max} kg",
        "err.slot": "Choose a pickup time",
        "err.date": "That day cannot be booked; choose another time",
        "err.window": "That time cannot be booked; choose another",
        "err.form": "Please fix the marked fields, then confirm again.",
        "err.network": "Network problem; please try again (you will not be booked twice).",
        "err.server": "Something went wrong on our side; please try again later.",
        "done.title": "You are booked",
        "done.ref": "Booking reference",
        "done.keep": "Keep this reference: with your phone number it lets you check or cancel the booking.",
        "done.copy": "Copy",
        "done.copied": "Copied",
        "done.details": "Your booking",
        "done.status": "See the booking status",
        "done.again": "Book another pickup",
        "status.title": "My booking",
        "status.intro": "Enter the booking reference and the phone number you booked with.",
        "status.ref": "Booking reference",
        "status.phone": "Mobile phone",
        "status.lookup": "Look up",
        "status.loading": "Looking up…",
        "status.not_found": "No booking found for this reference and phone number.",
        "status.recent": "Recent bookings",
        "status.when": "When",
        "status.address": "Address",
        "status.materials": "Materials",
        "status.history": "History",
        "status.cancel": "Cancel booking",
        "status.cancel_title": "Cancel this booking?",
        "status.cancel_reason": "Reason (optional)",
        "status.cancel_yes": "Yes, cancel it",
        "status.cancel_no": "Keep it",
        "status.cancelled_ok": "The booking is cancelled.",
        "status.cannot_cancel": "This booking can no longer be cancelled (the van may be on its way).",
        "status.book": "Book a pickup",
        "st.requested": "Requested",
        "st.queued": "Waiting to be scheduled",
        "st.planned": "Scheduled on a route",
        "st.dispatched": "Van on its way",
        "st.collected": "Collected",
        "st.missed": "Missed",
        "st.cancelled": "Cancelled",
        "actor.resident": "you",
        "actor.system": "system",
        "actor.staff": "staff",
        "note.validated": "details checked",
    },
}


def lang() -> str:
    """This request's language: ``?lang=``, else the cookie, else Chinese."""
    asked = request.args.get("lang")
    if asked in LANGS:
        return asked
    kept = request.cookies.get(LANG_COOKIE)
    return kept if kept in LANGS else DEFAULT_LANG


def _today() -> dt.date:
    return state.now().date()


def _link(endpoint: str, language: str, **values: Any) -> str:
    """A URL to a resident page that keeps a non-default language without the cookie."""
    if language != DEFAULT_LANG:
        values["lang"] = language
    return url_for(endpoint, **values)


@functools.lru_cache(maxsize=4)
def _district_names(path: Path) -> dict[str, dict[str, str]]:
    """District names by code in both languages, from the boundaries file the app loads."""
    try:
        fc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {}
    for f in fc.get("features", []):
        p = f.get("properties") or {}
        if p.get("code"):
            out[str(p["code"])] = {"zh": str(p.get("name_zh", "")), "en": str(p.get("name_en", ""))}
    return out


def _page_config(language: str) -> dict[str, Any]:
    """What ``resident.js`` needs: the strings, the rules and the URLs."""
    names = _district_names(current_app.config["LOOPVAN_SETTINGS"].districts_path)
    return {
        "lang": language,
        "t": STRINGS[language],
        "today": _today().isoformat(),
        "timezone": TIMEZONE,
        "districts": {code: n[language] or n["zh"] for code, n in names.items()},
        "materials": [
            {
                "code": code,
                "bulky": code in TAIL_LIFT_MATERIALS,
                "m3_per_kg": VOLUME_M3_PER_KG.get(code, DEFAULT_M3_PER_KG),
            }
            for code in MATERIALS
        ],
        "max_item_kg": MAX_ITEM_KG,
        "max_total_kg": MAX_TOTAL_KG,
        "max_m3": MAX_M3,
        "horizon_days": HORIZON_DAYS,
        "service_hours": [f"{SERVICE_HOURS[0]:%H:%M}", f"{SERVICE_HOURS[1]:%H:%M}"],
        "statuses": list(STATUSES),
        "cancellable": list(CANCELLABLE),
        "api": {
            "bookings": url_for("api-bookings.Bookings"),
            "slots": url_for("api-bookings.booking_slots"),
            "network": url_for("api-plans.network_geojson"),
            "streets": url_for("api-plans.streets"),
        },
        "urls": {
            "book": _link("resident.book", language),
            "confirmed": _link("resident.confirmed", language, reference="__REF__"),
            "status": _link("resident.status", language),
        },
        # A signed-in dispatcher booking for a resident: the API wants the session's CSRF
        # token on writes. Residents have no session, so they get none (and no cookie).
        "csrf": csrf_token() if current().staff else None,
    }


def _render(template: str, **context: Any) -> Response:
    language = lang()
    other = "en" if language == "zh" else "zh"
    switch = {**request.args.to_dict(), **(request.view_args or {}), "lang": other}
    resp = make_response(
        render_template(
            template,
            lang=language,
            html_lang=HTML_LANG[language],
            t=STRINGS[language],
            link=lambda endpoint, **values: _link(endpoint, language, **values),
            switch_url=url_for(request.endpoint or "resident.book", **switch),
            page_config=_page_config(language),
            materials=[(code, code in TAIL_LIFT_MATERIALS) for code in MATERIALS],
            presets=PRESETS,
            **context,
        )
    )
    if request.args.get("lang") in LANGS:
        resp.set_cookie(LANG_COOKIE, language, max_age=365 * 86400, samesite="Lax")
    resp.headers["Content-Language"] = HTML_LANG[language]
    resp.vary.add("Cookie")
    return resp


@bp.get("/book")
def book() -> Any:
    """Book a pickup: place, materials, a suggested slot."""
    return _render("book.html", page="book")


@bp.get("/book/confirmed/<string:reference>")
def confirmed(reference: str) -> Any:
    """The confirmation: the reference, big, and the way to the status page."""
    if not REFERENCE.match(reference):
        abort(404)
    return _render("book_confirmed.html", page="confirmed", reference=reference)


@bp.get("/book/status")
def status() -> Any:
    """Look a booking up by reference and phone; follow it, cancel it."""
    ref = request.args.get("ref", "").strip().upper()
    return _render("book_status.html", page="status", reference=ref if REFERENCE.match(ref) else "")
