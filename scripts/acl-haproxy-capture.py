#!/usr/bin/env python3
"""Records HAProxy's ACL verdicts into a cases file (see src/config/acl/haproxy_cases.txt).

Builds one frontend from the file's `acl` lines: each ACL (and each `predefined` name) that
holds sets a variable, and `http-request return` answers their names. Every `>` request is
sent raw over TCP and the `=` line after it is rewritten with HAProxy's answer. With
`--check`, nothing is written and a difference exits 1.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

PORT = 18099


def main():
    args = [a for a in sys.argv[1:] if a != "--check"]
    check = "--check" in sys.argv
    path = args[0]
    lines = open(path, encoding="latin-1").read().split("\n")
    names, acl_lines = [], []
    for line in lines:
        words = line.split()
        if line.startswith("acl "):
            acl_lines.append(line)
            if words[1] not in names:
                names.append(words[1])
        elif line.startswith("predefined "):
            names.extend(words[1:])
    cfg = ["defaults", "  mode http", "  timeout client 5s", "  timeout server 5s",
           "  timeout connect 5s", "frontend f", f"  bind 127.0.0.1:{PORT}"]
    cfg += ["  " + l for l in acl_lines]
    for i, name in enumerate(names):
        cfg.append(f"  http-request set-var(txn.v{i}) str('{name} ') if {name}")
    answer = "".join(f"%[var(txn.v{i})]" for i in range(len(names)))
    cfg.append(f'  http-request return status 200 content-type text/plain lf-string "{answer}"')
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
        f.write("\n".join(cfg) + "\n")
        cfg_path = f.name
    proc = subprocess.Popen(["haproxy", "-db", "-f", cfg_path])
    try:
        time.sleep(1)
        if proc.poll() is not None:
            sys.exit(f"haproxy exited (port {PORT} busy or config refused)")
        out, request, changed = [], [], False
        for line in lines:
            if line.startswith("> "):
                request.append(line[2:])
                out.append(line)
            elif line.startswith("=") and request:
                verdict = ask("\r\n".join(request) + "\r\n\r\n")
                new = ("= " + verdict).rstrip()
                if new != line.rstrip():
                    changed = True
                    print(f"{request[0]}\n  recorded: {line}\n  haproxy:  {new}")
                out.append(new)
                request = []
            else:
                out.append(line)
    finally:
        proc.terminate()
        proc.wait()
        os.unlink(cfg_path)
    if check:
        sys.exit(1 if changed else 0)
    open(path, "w", encoding="latin-1").write("\n".join(out))


def ask(raw):
    with socket.create_connection(("127.0.0.1", PORT)) as s:
        s.sendall(raw.encode("latin-1"))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                head, body = data.split(b"\r\n\r\n", 1)
                length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(body) >= int(length[0].split(b":")[1]):
                    break
    head, body = data.split(b"\r\n\r\n", 1)
    status = head.split(b"\r\n")[0].decode()
    if " 200 " not in status:
        return "status " + status
    return body.decode("latin-1").strip()


if __name__ == "__main__":
    main()
