"""Writes examples/data/sample.warc.gz: a small synthetic crawl in CommonCrawl's layout (one gzip
member per record; warcinfo, then request/response/metadata per page) for the quickstart and
tests. The pages are generated (article text with navigation, cookie banner, comments and
footer boilerplate around it), so the file can be redistributed; the output is deterministic.

    python scripts/make_sample_warc.py [OUT]
"""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import sys
import uuid
from pathlib import Path

TOPICS = [
    ("river", "rivers", "the delta", "sediment", "the flood plain"),
    ("bread", "bakers", "the oven", "yeast", "the dough"),
    ("comet", "astronomers", "the telescope", "ice", "the tail"),
    ("garden", "gardeners", "the soil", "compost", "the seedlings"),
    ("bridge", "engineers", "the span", "steel", "the foundations"),
    ("violin", "luthiers", "the workshop", "spruce", "the varnish"),
]
VERBS = ["shapes", "changes", "supports", "reveals", "protects", "explains"]
ADJ = ["careful", "patient", "slow", "surprising", "practical", "quiet"]


def sentence(rng: random.Random, topic) -> str:
    noun, people, place, material, part = topic
    return (
        f"The {rng.choice(ADJ)} work of {people} at {place} {rng.choice(VERBS)} how {material} "
        f"behaves in {part}, and {rng.randint(2, 97)} small observations show why the {noun} "
        f"matters."
    )


def page(i: int, rng: random.Random) -> tuple[str, bytes]:
    topic = TOPICS[i % len(TOPICS)]
    title = f"Notes on the {topic[0]}, part {i + 1}"
    paras = "\n".join(
        "<p>" + " ".join(sentence(rng, topic) for _ in range(rng.randint(2, 5))) + "</p>"
        for _ in range(rng.randint(3, 7))
    )
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | Example Notes</title></head>
<body>
<div class="cookie-banner">We use cookies to improve your experience. <a href="/ok">Accept</a></div>
<nav><ul><li><a href="/">Home</a></li><li><a href="/about">About</a></li>
<li><a href="/archive">Archive</a></li><li><a href="/contact">Contact</a></li></ul></nav>
<main><article><h1>{title}</h1>
<p class="byline">By A. Writer, {2020 + i % 5}-0{1 + i % 9}-1{i % 10}</p>
{paras}
<h2>Further reading</h2>
<ul><li>An earlier note on {topic[3]}</li><li>Field notes from {topic[2]}</li></ul>
</article>
<section class="comments"><h3>Comments</h3>
<p>Great post! Visit my site for cheap deals.</p></section>
</main>
<footer>&copy; Example Notes. All rights reserved. <a href="/privacy">Privacy</a></footer>
</body></html>
"""
    return f"https://notes.example.org/{topic[0]}/{i + 1}.html", html.encode()


def record(warc_type: str, headers: dict[str, str], block: bytes, rng: random.Random) -> bytes:
    rid = uuid.UUID(int=rng.getrandbits(128), version=4)
    head = {
        "WARC-Type": warc_type,
        "WARC-Date": "2024-12-01T12:00:00Z",
        "WARC-Record-ID": f"<urn:uuid:{rid}>",
        **headers,
        "Content-Length": str(len(block)),
    }
    text = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n"
    return text.encode() + block + b"\r\n\r\n"


def member(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/data/sample.warc.gz")
    rng = random.Random(20241201)
    parts = [
        record(
            "warcinfo",
            {"Content-Type": "application/warc-fields", "WARC-Filename": out.name},
            b"software: mdf scripts/make_sample_warc.py\r\nformat: WARC File Format 1.1\r\n",
            rng,
        )
    ]
    for i in range(40):
        url, body = page(i, rng)
        request = f"GET {url.split('.org', 1)[1]} HTTP/1.1\r\nHost: notes.example.org\r\n\r\n"
        parts.append(
            record(
                "request",
                {"WARC-Target-URI": url, "Content-Type": "application/http; msgtype=request"},
                request.encode(),
                rng,
            )
        )
        http = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        digest = hashlib.sha1(body).hexdigest()
        parts.append(
            record(
                "response",
                {
                    "WARC-Target-URI": url,
                    "Content-Type": "application/http; msgtype=response",
                    "WARC-Payload-Digest": f"sha1:{digest}",
                    "WARC-Identified-Payload-Type": "text/html",
                },
                http,
                rng,
            )
        )
        parts.append(
            record(
                "metadata",
                {"WARC-Target-URI": url, "Content-Type": "application/warc-fields"},
                b"fetchTimeMs: 42\r\n",
                rng,
            )
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"".join(member(p) for p in parts))
    print(f"{out}: {out.stat().st_size} bytes, {len(parts)} records")


if __name__ == "__main__":
    main()
