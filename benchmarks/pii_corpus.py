"""Real English and Korean paragraphs from this machine, with planted PII and planted decoys.

Sources (Debian documentation packages, read-only): the English Debian Reference
(/usr/share/debian-reference/*.en.html), and the English and Korean GIMP manuals
(/usr/share/gimp/2.0/help/{en,ko}) plus the Korean LibreOffice help. Paragraphs are cut at block
elements with lxml. Used by ``benchmarks/bench_pii.py`` (throughput) and by
``tests/data/pii/build_labelled.py`` (the committed labelled set).

Planted values are generated from a seed: each carries its exact span and entity type. Decoys
(versions, dates, ISBNs, git SHAs, UUIDs, prices, Luhn-failing order numbers, invalid 13-digit
"RRNs", timestamps) carry the span that must stay untouched.
"""
from __future__ import annotations

import datetime as dt
import glob
import random
import re

SOURCES = {
    "en": ["/usr/share/debian-reference/*.en.html", "/usr/share/gimp/2.0/help/en/*.html"],
    "ko": ["/usr/share/gimp/2.0/help/ko/*.html", "/usr/share/libreoffice/help/ko/**/*.htm*"],
}
_WS = re.compile(r"\s+")


def paragraphs(lang: str, limit: int = 4000, min_len: int = 80) -> list[str]:
    """Distinct paragraphs of real prose (≥ min_len characters), in a fixed order."""
    import lxml.html

    seen: set[str] = set()
    out: list[str] = []
    files = sorted(f for pattern in SOURCES[lang] for f in glob.glob(pattern, recursive=True))
    for path in files:
        try:
            root = lxml.html.parse(path).getroot()
        except Exception:  # noqa: BLE001
            continue
        if root is None:
            continue
        for el in root.iter("p", "li", "dd", "td"):
            text = _WS.sub(" ", el.text_content()).strip()
            if len(text) < min_len or text in seen:
                continue
            if lang == "ko" and not re.search(r"[\uac00-\ud7a3]", text):
                continue
            seen.add(text)
            out.append(text)
            if len(out) >= limit:
                return out
    return out


# --- generators ----------------------------------------------------------------------------
def _luhn_digit(body: str) -> str:
    total = 0
    for i, d in enumerate(reversed(body)):
        n = int(d)
        if i % 2 == 0:
            n *= 2
            n -= 9 if n > 9 else 0
        total += n
    return str((10 - total % 10) % 10)


def credit_card(rng: random.Random) -> str:
    prefix = rng.choice(["4", "51", "52", "53", "54", "55", "6011"])
    body = prefix + "".join(rng.choice("0123456789") for _ in range(15 - len(prefix)))
    num = body + _luhn_digit(body)
    sep = rng.choice([" ", "-", ""])
    return sep.join(num[i : i + 4] for i in range(0, 16, 4))


def bad_card(rng: random.Random) -> str:
    num = credit_card(rng).replace(" ", "").replace("-", "")
    last = str((int(num[-1]) + rng.randint(1, 9)) % 10)
    num = num[:-1] + last
    return "-".join(num[i : i + 4] for i in range(0, 16, 4))


def rrn(rng: random.Random, valid: bool = True) -> str:
    while True:
        year = rng.randint(1950, 2019)
        d = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
        g = rng.choice("12") if year < 2000 else rng.choice("34")
        body = d.strftime("%y%m%d") + g + f"{rng.randint(0, 95):02d}" + "".join(rng.choice("0123456789") for _ in range(3))
        w = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5]
        check = (11 - sum(int(a) * b for a, b in zip(body, w)) % 11) % 10
        if valid:
            return body[:6] + "-" + body[6:] + str(check)
        return body[:6] + "-" + body[6:] + str((check + rng.randint(1, 9)) % 10)


def frn(rng: random.Random) -> str:
    year = rng.randint(1960, 2019)
    d = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
    g = rng.choice("56") if year < 2000 else rng.choice("78")
    body = d.strftime("%y%m%d") + g + f"{rng.randint(0, 95):02d}" + "".join(rng.choice("0123456789") for _ in range(3))
    w = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5]
    check = (13 - sum(int(a) * b for a, b in zip(body, w)) % 11) % 10
    return body[:6] + "-" + body[6:] + str(check)


def rrn_new_style(rng: random.Random) -> str:
    """Born after Oct 2020: the last six digits are random (no check digit)."""
    d = dt.date(2021, 1, 1) + dt.timedelta(days=rng.randint(0, 1400))
    return d.strftime("%y%m%d") + "-" + rng.choice("34") + "".join(rng.choice("0123456789") for _ in range(6))


def brn(rng: random.Random) -> str:
    while True:
        body = [rng.randint(0, 9) for _ in range(9)]
        keys = [1, 3, 7, 1, 3, 7, 1, 3, 5]
        s = sum(body[i] * keys[i] for i in range(8))
        last = body[8] * 5
        s += last // 10 + last
        check = (10 - s % 10) % 10
        digits = "".join(map(str, body)) + str(check)
        if digits[0] != "0":
            return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"


def iban(rng: random.Random) -> str:
    country, length = rng.choice([("DE", 18), ("GB", 18), ("FR", 23), ("NL", 14)])
    if country == "GB":
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + "".join(
            rng.choice("0123456789") for _ in range(14))
    elif country == "NL":
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + "".join(
            rng.choice("0123456789") for _ in range(10))
    elif country == "FR":
        bban = "".join(rng.choice("0123456789") for _ in range(21)) + f"{rng.randint(10, 97)}"
    else:
        bban = "".join(rng.choice("0123456789") for _ in range(length))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    raw = f"{country}{check:02d}{bban}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def btc(rng: random.Random) -> str:
    import hashlib

    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    payload = bytes([0]) + bytes(rng.randint(0, 255) for _ in range(20))
    check = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n = int.from_bytes(payload + check, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = alphabet[r] + out
    return "1" * (len(payload) - len(payload.lstrip(b"\0"))) + out


def email(rng: random.Random) -> str:
    user = rng.choice(["john.doe", "kim.minsu", "jy_park", "support", "a.lee88", "hong-gildong"])
    dom = rng.choice(["example.com", "mail.co.kr", "naver.com", "univ.ac.kr", "company.org", "gmail.com"])
    return f"{user}{rng.randint(1, 999)}@{dom}"


def kr_mobile(rng: random.Random) -> str:
    a, b = rng.randint(2000, 9999), rng.randint(1000, 9999)
    return rng.choice([f"010-{a}-{b}", f"010 {a} {b}", f"+82 10-{a}-{b}", f"+82-10-{a}-{b}", f"010.{a}.{b}"])


def kr_landline(rng: random.Random) -> str:
    return rng.choice([f"02-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
                       f"031-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
                       f"051-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
                       f"02-{rng.randint(2000, 9999)}-{rng.randint(1000, 9999)}"])


def us_phone(rng: random.Random) -> str:
    area = rng.choice([212, 415, 617, 312, 206, 503])
    return rng.choice([f"({area}) 555-{rng.randint(100, 199):04d}", f"{area}-555-{rng.randint(100, 199):04d}",
                       f"+1 {area} 555 {rng.randint(100, 199):04d}"])


def ipv4(rng: random.Random) -> str:
    return f"{rng.choice([23, 45, 81, 104, 151, 203])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def ipv6(rng: random.Random) -> str:
    return f"2001:db8:{rng.randint(1, 0xffff):x}::{rng.randint(1, 0xffff):x}"


def ssn(rng: random.Random) -> str:
    return f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"


def passport(rng: random.Random) -> str:
    return f"M{rng.randint(100, 999)}{rng.choice('ABCDEFGH')}{rng.randint(1000, 9999)}"


def driver_license(rng: random.Random) -> str:
    return f"{rng.choice(['11', '12', '13', '28'])}-{rng.randint(10, 24)}-{rng.randint(100000, 999999)}-{rng.randint(10, 99)}"


def bank_account(rng: random.Random) -> str:
    return rng.choice([f"110-{rng.randint(100, 999)}-{rng.randint(100000, 999999)}",
                       f"{rng.randint(100000, 999999)}-01-{rng.randint(100000, 999999)}",
                       f"1002-{rng.randint(100, 999)}-{rng.randint(100000, 999999)}",
                       f"3333-0{rng.randint(1, 9)}-{rng.randint(1000000, 9999999)}"])


# (entity, generator, English template, Korean template): "{}" is the value.
PLANTS = [
    ("EMAIL_ADDRESS", email, "Send questions to {} before Friday.", "문의는 {} 으로 보내 주세요."),
    ("PHONE_NUMBER", kr_mobile, "You can reach the maintainer at {}.", "담당자 휴대폰: {}"),
    ("PHONE_NUMBER", kr_landline, "Office phone: {}", "대표전화 {} (평일 9시-18시)"),
    ("PHONE_NUMBER", us_phone, "Call our help desk at {} for details.", "미국 지사 전화번호는 {} 입니다."),
    ("CREDIT_CARD", credit_card, "The card number {} was charged.", "결제하신 카드번호 {} 확인 바랍니다."),
    ("IBAN_CODE", iban, "Wire the fee to IBAN {} today.", "해외 송금 계좌 IBAN: {}"),
    ("IP_ADDRESS", ipv4, "The server at {} refused the connection.", "접속 IP {} 에서 차단되었습니다."),
    ("IP_ADDRESS", ipv6, "Its IPv6 address is {} now.", "서버 IPv6 주소: {}"),
    ("US_SSN", ssn, "Her SSN {} was on the form.", "미국 사회보장번호(SSN) {} 기재"),
    ("CRYPTO", btc, "Donations go to bitcoin wallet {} please.", "비트코인 지갑 주소 {} 로 후원"),
    ("KR_RRN", rrn, "Korean RRN: {}", "주민등록번호: {}"),
    ("KR_RRN", rrn_new_style, "Newborn resident registration number {}", "신생아 주민등록번호 {}"),
    ("KR_FRN", frn, "Alien registration (FRN) {}", "외국인등록번호 {}"),
    ("KR_BRN", brn, "Korean business registration number {}", "사업자등록번호: {}"),
    ("KR_PASSPORT", passport, "Korean passport number {}", "여권번호 {}"),
    ("KR_DRIVER_LICENSE", driver_license, "Korean driver license {}", "운전면허번호: {}"),
    ("KR_BANK_ACCOUNT", bank_account, "Deposit to bank account {} (Shinhan).", "입금 계좌번호: {} (신한은행)"),
]


def _sha(rng):
    return "".join(rng.choice("0123456789abcdef") for _ in range(40))


def _uuid(rng):
    import uuid

    return str(uuid.UUID(int=rng.getrandbits(128)))


def _isbn13(rng):
    body = "978" + "".join(rng.choice("0123456789") for _ in range(9))
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
    d = body + str((10 - total % 10) % 10)
    return f"{d[:3]}-{d[3]}-{d[4:7]}-{d[7:12]}-{d[12]}"


def _isbn10(rng):
    body = "".join(rng.choice("0123456789") for _ in range(9))
    total = sum((10 - i) * int(c) for i, c in enumerate(body))
    check = (11 - total % 11) % 11
    c = "X" if check == 10 else str(check)
    return f"{body[0]}-{body[1:4]}-{body[4:9]}-{c}"


def _bad13(rng):
    """13 digits shaped like an RRN that is not one (impossible date or gender digit)."""
    return rng.choice([
        f"{rng.randint(10, 99)}{rng.randint(13, 19)}{rng.randint(10, 28)}-{rng.choice('12')}{rng.randint(100000, 999999)}",
        f"{rng.randint(50, 99)}0{rng.randint(1, 9)}{rng.randint(32, 39)}-{rng.choice('12')}{rng.randint(100000, 999999)}",
    ])


# (kind, generator, English template, Korean template)
DECOYS = [
    ("version", lambda r: f"{r.randint(1, 12)}.{r.randint(0, 30)}.{r.randint(0, 40)}", "Upgrade to version {} first.", "버전 {} 으로 업데이트하세요."),
    ("date", lambda r: f"{r.randint(2000, 2025)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}", "Released on {}.", "{} 에 배포되었습니다."),
    ("isbn13", _isbn13, "See ISBN {} for details.", "참고 도서 ISBN {}"),
    ("isbn10", _isbn10, "The first edition (ISBN {}) is out of print.", "초판 ISBN {} 절판"),
    ("git_sha", _sha, "Fixed in commit {}.", "커밋 {} 에서 수정됨."),
    ("uuid", _uuid, "Object id {} was created.", "객체 ID {} 생성"),
    ("price", lambda r: f"${r.randint(1, 9)},{r.randint(100, 999)}.{r.randint(10, 99)}", "It costs {} per seat.", "가격은 {} 입니다."),
    ("price_krw", lambda r: f"{r.randint(1, 99)},{r.randint(100, 999)},000원", "About {} in Korea.", "정가 {}"),
    ("order_luhn_fail", bad_card, "Order number {} shipped.", "주문번호 {} 발송 완료"),
    ("bad_rrn", _bad13, "Reference {} was filed.", "접수번호 {} 처리"),
    ("bad_rrn_checksum", lambda r: rrn(r, valid=False), "Ticket {} is closed.", "문서번호 {} 보관"),
    ("timestamp", lambda r: str(r.randint(1500000000, 1800000000)), "Unix time {} marks the build.", "빌드 시각 {}"),
    ("time", lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}", "The job ran at {}.", "작업 시각 {}"),
    ("percent", lambda r: f"{r.randint(1, 99)}.{r.randint(0, 9)}%", "Coverage rose to {}.", "점유율 {}"),
    ("dotted_version", lambda r: f"{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}-{r.randint(1, 9)}", "Package release {} is in testing.", "패키지 {} 테스트 중"),
]


def planted_doc(rng: random.Random, lang: str, paras: list[str], n_plants: int, n_decoys: int) -> dict:
    """A document of real paragraphs with planted sentences; returns text, pii spans, decoy spans."""
    pieces: list[tuple[str, str | None, str | None]] = []  # (text, kind, value)
    for p in rng.sample(paras, k=min(len(paras), rng.randint(1, 3))):
        pieces.append((p, None, None))
    for _ in range(n_plants):
        entity, gen, en, ko = rng.choice(PLANTS)
        value = gen(rng)
        pieces.insert(rng.randint(0, len(pieces)), ((en if lang == "en" else ko), entity, value))
    for _ in range(n_decoys):
        kind, gen, en, ko = rng.choice(DECOYS)
        value = gen(rng)
        pieces.insert(rng.randint(0, len(pieces)), ((en if lang == "en" else ko), "decoy:" + kind, value))
    text = ""
    pii: list[dict] = []
    decoys: list[dict] = []
    for i, (piece, kind, value) in enumerate(pieces):
        sep = "" if i == 0 else rng.choice([" ", "\n", "\n\n"])
        text += sep
        if kind is None:
            text += piece
            continue
        before, after = piece.split("{}")
        text += before
        span = {"start": len(text), "end": len(text) + len(value)}
        text += value + after
        if kind.startswith("decoy:"):
            decoys.append({"kind": kind[6:], **span})
        else:
            pii.append({"type": kind, **span})
    return {"lang": lang, "text": text, "pii": pii, "decoys": decoys}
