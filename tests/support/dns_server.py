"""A small authoritative DNS server on 127.0.0.1 (UDP, a free port) serving what a test configures.

Built on dnspython's message parsing (dns.message.from_wire / make_response), so the code under
test talks real DNS over a real socket. Runs in a daemon thread; use it as a context manager:

    with DnsServer() as dns_server:
        dns_server.add("_dmarc.example.com", "TXT", "v=DMARC1; p=none;")
        settings = Settings(..., dns_resolver=dns_server.address)
"""

from __future__ import annotations

import socket
import threading
from typing import Self

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

POLL_SECONDS = 0.1
PLAIN_UDP_LIMIT = 512


def txt_rdata(value: str) -> str:
    """A TXT value in zone-file form, split into the 255-byte strings DNS requires."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


class DnsServer:
    """Answers A/TXT/MX/... queries from an in-memory table; NXDOMAIN for names it does not know."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], list[str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.queries: list[tuple[str, str]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(POLL_SECONDS)
        self._thread = threading.Thread(target=self._serve, name="test-dns", daemon=True)

    @property
    def address(self) -> str:
        """ "127.0.0.1:<port>", the form settings.dns_resolver takes."""
        host, port = self._sock.getsockname()
        return f"{host}:{port}"

    def add(self, name: str, rdtype: str, value: str) -> None:
        """Serve one more record (`value` in zone-file form; plain text for TXT is quoted here)."""
        text = txt_rdata(value) if rdtype.upper() == "TXT" else value
        with self._lock:
            self._records.setdefault((_key(name), rdtype.upper()), []).append(text)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._sock.recvfrom(4096)
            except OSError:
                continue
            reply = self._reply(wire)
            if reply is not None:
                self._sock.sendto(reply, peer)

    def _reply(self, wire: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        for question in query.question:
            self._answer(response, question.name, question.rdtype)
        return _to_wire(response, query)

    def _answer(self, response: dns.message.Message, name: dns.name.Name, rdtype: int) -> None:
        type_text = dns.rdatatype.to_text(rdtype)
        self.queries.append((_key(name.to_text()), type_text))
        with self._lock:
            values = list(self._records.get((_key(name.to_text()), type_text), []))
            known = any(key[0] == _key(name.to_text()) for key in self._records)
        if values:
            response.answer.append(dns.rrset.from_text_list(name, 300, dns.rdataclass.IN, rdtype, values))
        elif not known:
            response.set_rcode(dns.rcode.NXDOMAIN)


def _key(name: str) -> str:
    return name.lower().rstrip(".")


def _to_wire(response: dns.message.Message, query: dns.message.Message) -> bytes:
    """The reply within the size the client accepts; truncated (TC) when it does not fit."""
    limit = max(query.payload, PLAIN_UDP_LIMIT) if query.edns >= 0 else PLAIN_UDP_LIMIT
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        response.answer.clear()
        response.flags |= dns.flags.TC
        return response.to_wire(max_size=limit)


def publish(server: DnsServer, dns_records: dict, *, only: tuple[str, ...] | None = None) -> None:
    """Serve the records of an AutoSend `dnsRecords` object (all, or only the named groups)."""
    for group in only or ("ownership", "dkim", "mailFrom", "dmarc"):
        entries = dns_records[group] if isinstance(dns_records[group], list) else [dns_records[group]]
        for record in entries:
            value = record["value"]
            if record["type"] == "MX":
                value = f"{record['priority']} {value}."
            server.add(record["name"], record["type"], value)
