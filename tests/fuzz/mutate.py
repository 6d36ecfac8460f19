"""The fuzzer's frame source: pure and deterministic for a seed (no I/O, no clock).

It starts from valid frames made by real pycrdt edits (rich text in the editor's XmlFragment
the way the editor builds it, a root Text, maps, arrays, awareness states) and mutates them
knowing their structure: client ids (the honest clients' own among them), clocks, lengths,
origins and parents pointing at other existing items, content and type refs, sections of two
updates spliced, delete sets over existing content, huge counts; plus raw bytes and text
frames. A share of frames stay valid so the document grows and mutations have items to hit.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText, merge_updates

from server.sync.lib0 import write_var_uint
from server.sync.protocol import encode_sync_step1, encode_sync_step2, encode_update
from tests.fuzz import yupdate
from tests.fuzz.yupdate import ID, Struct, Update

FRAGMENT = "default"  # web/src/editor/editor.ts FRAGMENT_NAME
MAX_FRAME = 16 * 1024 * 1024  # the server's default max_message_bytes
BLOCKS = ("paragraph", "heading", "blockquote", "codeBlock", "bulletList", "listItem")
WORDS = ("lorem", "ipsum", "ümlaut", "日本語", "a\u0301", "😀🎉", "x", " ", "\n", "tab\t")
# pycrdt's XmlText indexes by UTF-8 byte and panics when a range cuts a character, and the
# authors' ranges are picked blind: their rich text is ASCII, the rest carries the others.
ASCII_WORDS = ("lorem", "ipsum", "x", " ", "\n", "tab\t", "<b>&amp;")


@dataclass(frozen=True, slots=True)
class Frame:
    """One WebSocket message: binary, text (`text`), or `big` bytes starting with `data`."""

    data: bytes
    kind: str  # what made it, for the summary: "valid-update", "mutated-step2", "raw", ...
    text: bool = False
    big: int = 0

    def payload(self) -> bytes | str:
        if self.text:
            return self.data.decode("utf-8", errors="replace")
        if self.big:
            return self.data + bytes(self.big - len(self.data))
        return self.data


class Engine:
    """Yields frames for one document; `new_document()` starts over for a fresh one."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.frames = 0
        self.new_document()

    def new_document(self) -> None:
        rng = self.rng
        # Honest clients get ids from the seed too, so frames can claim them reproducibly.
        self.writer_id = rng.randrange(1, 2**32)
        self.reader_id = rng.randrange(1, 2**32)
        self.authors: list[Doc[Any]] = [Doc(client_id=rng.randrange(1, 2**32)) for _ in range(3)]
        self.history: list[bytes] = []  # valid updates made so far, in order
        self.unsent: list[bytes] = []
        self.full_state = b""
        self.awareness_clocks: dict[int, int] = {}

    @property
    def honest_ids(self) -> tuple[int, int]:
        return self.writer_id, self.reader_id

    def next(self) -> Frame:
        self.frames += 1
        rng = self.rng
        if not self.history or (self.unsent and rng.random() < 0.15):
            return self._valid_update()
        makers: list[tuple[float, Callable[[], Frame]]] = [
            (0.08, self._valid_update),
            (0.05, self._old_update),
            (0.42, self._mutated_update),
            (0.12, self._awareness),
            (0.07, self._step1),
            (0.03, self._query_awareness),
            (0.09, self._raw),
            (0.02, self._text),
            (0.001, self._big),
        ]
        pick = rng.random() * sum(w for w, _ in makers)
        for weight, make in makers:
            pick -= weight
            if pick <= 0:
                return make()
        return self._raw()

    # ---------------------------------------------------------------- valid material

    def _edit(self) -> bytes:
        """One real edit by one author, applied to the others too (so origins cross authors)."""
        rng = self.rng
        doc = rng.choice(self.authors)
        before = doc.get_state()
        with doc.transaction():
            _random_edit(rng, doc)
        update = doc.get_update(before)
        for other in self.authors:
            if other is not doc:
                other.apply_update(update)
        self.history.append(update)
        if len(self.history) % 40 == 1:
            self.full_state = doc.get_update()
        return update

    def _valid_update(self) -> Frame:
        update = self.unsent.pop(0) if self.unsent else self._edit()
        if self.rng.random() < 0.2:
            return Frame(encode_sync_step2(update), "valid-step2")
        return Frame(encode_update(update), "valid-update")

    def _old_update(self) -> Frame:
        rng = self.rng
        pieces = rng.sample(self.history, min(len(self.history), rng.randint(1, 3)))
        update = pieces[0]
        if len(pieces) > 1:
            update = merge_updates(*pieces)
        return Frame(encode_update(update), "replayed-update")

    def _base(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.55:
            return rng.choice(self.history[-64:])
        # Rarer than single edits only because parsing a whole document costs milliseconds.
        if rng.random() < 0.2 and self.full_state:
            return self.full_state  # a whole document, as a real sync step 2 carries
        update = self._edit()
        # Sent valid later too: later edits build on it and would otherwise all wait for it.
        self.unsent.append(update)
        return update

    # ---------------------------------------------------------------- update mutations

    def _mutated_update(self) -> Frame:
        rng = self.rng
        base = self._base()
        update = yupdate.parse(base)
        names = []
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 5))):
            op = rng.choice(UPDATE_MUTATIONS)
            names.append(op.__name__.strip("_"))
            op(self, update)
        data = yupdate.encode(update)
        if rng.random() < 0.2:
            data = self._bytes_mutation(data)
            names.append("bytes")
        step2 = rng.random() < 0.35
        frame = encode_sync_step2(data) if step2 else encode_update(data)
        if rng.random() < 0.04:
            frame = self._wrapper_mutation(frame)
        return Frame(frame, ("mutated-step2" if step2 else "mutated-update"))

    def client(self) -> int:
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            return rng.choice(self.honest_ids)
        if r < 0.6:
            return rng.choice(self.authors).client_id
        return (
            rng.choice((0, 1, 2**31, 2**32 - 1, 2**53 - 1, 2**53, 2**63, 2**64 - 1))
            if (r < 0.7)
            else rng.randrange(2**32)
        )

    def clock(self, near: int = 0) -> int:
        rng = self.rng
        return rng.choice(
            (
                0,
                near,
                near + 1,
                max(near - 1, 0),
                near + rng.randint(2, 50),  # a gap
                rng.randint(0, 400),  # inside what the honest writer typed before the fuzz
                rng.randint(400, 4000),  # what the writer reaches later: gaps it fills
                2**31 - 2,
                2**31 - 1,
                2**31,
                2**32 + 1,
                2**53,
            )
        )

    def existing_id(self) -> ID:
        """The ID of an item the server most likely holds (or, sometimes, of none)."""
        rng = self.rng
        if rng.random() < 0.75:
            update = yupdate.parse(rng.choice(self.history))
            section = rng.choice(update.sections) if update.sections else None
            if section is not None:
                end = section.clock + sum(s.length for s in section.structs)
                return section.client, rng.randrange(section.clock, max(end, section.clock + 1))
        return self.client(), self.clock()

    def _client(self, u: Update) -> None:
        if u.sections:
            self.rng.choice(u.sections).client = self.client()

    def _clock(self, u: Update) -> None:
        if u.sections:
            section = self.rng.choice(u.sections)
            section.clock = self.clock(section.clock)

    def _origin(self, u: Update) -> None:
        s = self._struct(u)
        if s is not None:
            if self.rng.random() < 0.5:
                s.origin = self.existing_id()
            else:
                s.right = self.existing_id()

    def _parent(self, u: Update) -> None:
        """Re-parent an item under another item: a text run, a map entry, or a real type."""
        s = self._struct(u)
        if s is None:
            return
        rng = self.rng
        s.origin = s.right = None
        if rng.random() < 0.7:
            s.parent = self.existing_id()
        else:
            s.parent = rng.choice((FRAGMENT, "t", "meta", "a", "", "\u0000", "x" * 300))
        if rng.random() < 0.3:
            s.sub = rng.choice((None, "title", "level", "bold", ""))

    def _content_ref(self, u: Update) -> None:
        s = self._struct(u)
        if s is None:
            return
        rng = self.rng
        if rng.random() < 0.5:
            s.ref = rng.randrange(0, 32)
        else:
            s.ref, s.content, s.length = rng.choice(_contents(rng))

    def _type_ref(self, u: Update) -> None:
        s = self._struct(u, lambda s: s.ref == yupdate.TYPE)
        if s is not None:
            type_ref = self.rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 100))
            name = self.rng.choice(BLOCKS).encode()
            s.content = write_var_uint(type_ref) + (
                write_var_uint(len(name)) + name if type_ref in (3, 5) else b""
            )

    def _length(self, u: Update) -> None:
        s = self._struct(u)
        if s is None:
            return
        n = self.rng.choice((0, 1, 2, 127, 128, 2**31 - 1, 2**32, 2**63))
        if s.ref in (yupdate.GC, yupdate.SKIP):
            s.length = n
        elif s.ref in (yupdate.DELETED, yupdate.ANY, yupdate.JSON, yupdate.STRING):
            # Rewrites the leading count or byte length, leaving the rest as it was.
            rest = yupdate._Reader(s.content)
            rest.uint()
            s.content = write_var_uint(min(n, 2**64 - 1)) + s.content[rest.pos :]

    def _splice(self, u: Update) -> None:
        other = yupdate.parse(self.rng.choice(self.history))
        rng = self.rng
        cut = rng.randint(0, len(u.sections))
        u.sections[cut:] = other.sections[rng.randint(0, len(other.sections)) :]
        if rng.random() < 0.5:
            u.deletes = other.deletes

    def _duplicate(self, u: Update) -> None:
        if u.sections:
            section = self.rng.choice(u.sections)
            copy = yupdate.Section(section.client, section.clock, list(section.structs))
            if self.rng.random() < 0.5:
                copy.clock += sum(s.length for s in copy.structs)
            u.sections.insert(self.rng.randint(0, len(u.sections)), copy)

    def _drop(self, u: Update) -> None:
        section = self.rng.choice(u.sections) if u.sections else None
        if section is not None and section.structs:
            del section.structs[self.rng.randrange(len(section.structs))]

    def _reorder(self, u: Update) -> None:
        self.rng.shuffle(u.sections)
        section = self.rng.choice(u.sections) if u.sections else None
        if section is not None:
            self.rng.shuffle(section.structs)

    def _delete_set(self, u: Update) -> None:
        rng = self.rng
        client, clock = self.existing_id()
        ranges = []
        for _ in range(rng.randint(1, 4)):
            length = rng.choice((1, 2, 5, 50, 0, 2**31 - 1 - clock, 2**31))
            ranges.append((clock, length))
            clock += rng.randint(0, 60)
        u.deletes.append((client, ranges))

    def _huge_counts(self, u: Update) -> None:
        # Encoded as a section whose struct count lies: a big count with few structs.
        if u.sections:
            section = self.rng.choice(u.sections)
            section.structs.extend([Struct(yupdate.GC, length=1)] * self.rng.choice((1, 200)))

    def _struct(self, u: Update, where: Callable[[Struct], bool] | None = None) -> Struct | None:
        found = [
            s
            for section in u.sections
            for s in section.structs
            if s.ref not in (yupdate.GC, yupdate.SKIP) and (where is None or where(s))
        ]
        return self.rng.choice(found) if found else None

    def _bytes_mutation(self, data: bytes) -> bytes:
        rng = self.rng
        b = bytearray(data)
        op = rng.randrange(6)
        pos = rng.randint(0, len(b))
        if op == 0:
            return bytes(b[:pos])
        if op == 1:
            return bytes(b) + rng.randbytes(rng.randint(1, 8))
        if op == 2 and b:
            b[min(pos, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 3:
            b[pos:pos] = rng.choice((b"\xff" * 10 + b"\x01", b"\x80\x00", write_var_uint(2**40)))
        elif op == 4 and b:
            del b[min(pos, len(b) - 1)]
        else:
            b[pos:pos] = rng.randbytes(rng.randint(1, 4))
        return bytes(b)

    def _wrapper_mutation(self, frame: bytes) -> bytes:
        rng = self.rng
        head, body = frame[:2], frame[2:]
        choice = rng.randrange(3)
        if choice == 0:
            return bytes([0, rng.choice((3, 4, 127))]) + body
        if choice == 1:
            return head + write_var_uint(rng.choice((0, 2**20, 2**62))) + body[1:]
        return frame + b"\x00"

    # ---------------------------------------------------------------- other message types

    def _awareness(self) -> Frame:
        rng = self.rng
        entries = []
        for _ in range(rng.choice((1, 1, 1, 2, 3, 5, 8))):
            client = rng.choice(
                (self.client(), rng.choice(self.authors).client_id, rng.randrange(1, 2**53))
            )
            clock = self.awareness_clocks.get(client, 0) + 1
            self.awareness_clocks[client] = clock
            if rng.random() < 0.2:
                clock = rng.choice((0, clock - 2, 2**53, 2**64 - 1))
            entries.append((client, max(clock, 0), self._awareness_state()))
        payload = bytearray(write_var_uint(len(entries)))
        for client, clock, state in entries:
            payload += write_var_uint(min(client, 2**64 - 1)) + write_var_uint(
                min(clock, 2**64 - 1)
            )
            payload += write_var_uint(len(state)) + state
        if rng.random() < 0.15:
            payload = bytearray(self._bytes_mutation(bytes(payload)))
        if rng.random() < 0.05:
            payload[0:1] = write_var_uint(rng.choice((0, 9, 2**30)))
        return Frame(b"\x01" + write_var_uint(len(payload)) + payload, "awareness")

    def _awareness_state(self) -> bytes:
        rng = self.rng
        user = {"name": rng.choice(WORDS), "color": f"#{rng.randrange(2**24):06x}"}
        good = json.dumps({"user": user, "cursor": {"anchor": rng.randrange(100)}})
        return rng.choice(
            (
                good.encode(),
                good.encode(),
                b"null",
                b" null ",
                b"{",
                b'{"a":NaN}',
                b"\xff\xfe",
                b"[" * 100 + b"]" * 100,
                json.dumps({"user": {"name": "x" * 20000}}).encode(),
                b'"\\ud800"',
                b"",
            )
        )

    def _step1(self) -> Frame:
        rng = self.rng
        sv = rng.choice(self.authors).get_state()
        if rng.random() < 0.5:
            entries = [(self.client(), self.clock()) for _ in range(rng.randint(0, 3))]
            sv = write_var_uint(len(entries)) + b"".join(
                write_var_uint(min(c, 2**64 - 1)) + write_var_uint(min(k, 2**64 - 1))
                for c, k in entries
            )
        if rng.random() < 0.3:
            sv = self._bytes_mutation(sv)
        return Frame(encode_sync_step1(sv), "step1")

    def _query_awareness(self) -> Frame:
        extra = b"" if self.rng.random() < 0.7 else self.rng.randbytes(2)
        return Frame(b"\x03" + extra, "query-awareness")

    def _raw(self) -> Frame:
        rng = self.rng
        prefix = rng.choice((b"", b"\x00", b"\x00\x00", b"\x00\x01", b"\x00\x02", b"\x01", b"\x02"))
        return Frame(prefix + rng.randbytes(rng.randint(0, 48)), "raw")

    def _text(self) -> Frame:
        return Frame(self.rng.choice(("hello", "\x00\x02", "{}", "😀")).encode(), "text", text=True)

    def _big(self) -> Frame:
        return Frame(b"\x00\x02", "oversize", big=MAX_FRAME + 1)


UPDATE_MUTATIONS: tuple[Callable[[Engine, Update], None], ...] = (
    Engine._client,
    Engine._clock,
    Engine._clock,
    Engine._origin,
    Engine._parent,
    Engine._parent,
    Engine._content_ref,
    Engine._type_ref,
    Engine._length,
    Engine._splice,
    Engine._duplicate,
    Engine._drop,
    Engine._reorder,
    Engine._delete_set,
    Engine._huge_counts,
)


def _contents(rng: random.Random) -> list[tuple[int, bytes, int]]:
    """Content of each kind, well formed, as (ref, encoded content, length)."""
    text = rng.choice(WORDS).encode()
    name = rng.choice(BLOCKS).encode()
    return [
        (yupdate.DELETED, write_var_uint(3), 3),
        (yupdate.JSON, b"\x01\x02{}", 1),
        (yupdate.BINARY, b"\x02\x00\x01", 1),
        (
            yupdate.STRING,
            write_var_uint(len(text)) + text,
            len(text.decode().encode("utf-16-le")) // 2,
        ),
        (yupdate.EMBED, b"\x02{}", 1),
        (yupdate.FORMAT, b"\x04bold\x04true", 1),
        (yupdate.TYPE, b"\x03" + write_var_uint(len(name)) + name, 1),
        (yupdate.TYPE, bytes([rng.choice((0, 1, 2, 4, 6))]), 1),
        (yupdate.ANY, b"\x02\x7d\x05\x77\x01x", 2),
        (yupdate.DOC, b"\x04guid\x76\x00", 1),
    ]


def _random_edit(rng: random.Random, doc: Doc[Any]) -> None:
    """An edit like the editor's (blocks of formatted text) or an app's (maps, arrays, text)."""
    fragment = doc.get(FRAGMENT, type=XmlFragment)
    blocks = list(fragment.children)
    texts = [
        t for b in blocks if isinstance(b, XmlElement) for t in b.children if isinstance(t, XmlText)
    ]
    op = rng.randrange(10)
    if op <= 1 or not texts:
        attrs = {"level": str(rng.randint(1, 3))} if rng.random() < 0.3 else None
        block = XmlElement(rng.choice(BLOCKS), attrs)
        fragment.children.insert(rng.randint(0, len(blocks)), block)
        block.children.append(XmlText(rng.choice(ASCII_WORDS)))
    elif op <= 4:
        t = rng.choice(texts)
        t.insert(rng.randint(0, len(t)), " ".join(rng.choices(ASCII_WORDS, k=rng.randint(1, 4))))
    elif op == 5:
        t = rng.choice(texts)
        if len(t) > 1:
            start = rng.randrange(len(t) - 1)
            del t[start : rng.randint(start + 1, len(t))]
    elif op == 6:
        t = rng.choice(texts)
        if len(t) > 1:
            start = rng.randrange(len(t) - 1)
            t.format(start, rng.randint(start + 1, len(t)), {rng.choice(("bold", "italic")): True})
    elif op == 7:
        if len(blocks) > 3:
            del fragment.children[rng.randrange(len(blocks))]
        else:
            rng.choice([b for b in blocks if isinstance(b, XmlElement)]).attributes["level"] = "2"
    elif op == 8:
        meta = doc.get("meta", type=Map)
        meta[rng.choice(("title", "lang", "n"))] = rng.choice(
            ("Title " + rng.choice(WORDS), 7, 2.5, None, True, {"nested": [1, {"k": "v"}]})
        )
    else:
        if rng.random() < 0.5:
            t = doc.get("t", type=Text)
            t += rng.choice(WORDS)
        else:
            a = doc.get("a", type=Array)
            a.append(rng.choice((1, -(2**40), "s", [1, 2], {"k": None}, b"\x00\x01")))
