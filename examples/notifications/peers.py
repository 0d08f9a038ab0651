#!/usr/bin/env python3
"""Stand-ins for the notifications example, standard library only: an SMTP server on
127.0.0.1:8925 and one HTTP server on 127.0.0.1:8931 answering as Slack's chat.postMessage,
SonarQube's task and quality-gate API, Vault's KV v2 API and a deployment endpoint do.
Every request is printed."""

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWERS = {
    ("POST", "/api/chat.postMessage"): {"ok": True, "channel": "C0DEMO", "ts": "1700000000.000100"},
    ("GET", "/api/ce/task?id=demo-task"): {"task": {"id": "demo-task", "status": "SUCCESS", "analysisId": "demo-analysis"}},
    ("GET", "/api/qualitygates/project_status?analysisId=demo-analysis"): {"projectStatus": {"status": "OK"}},
    ("GET", "/v1/secret/data/demo"): {"data": {"data": {"key": "example-deploy-key"}, "metadata": {"version": 1}}},
    ("POST", "/deploy"): {"deployed": "1.0"},
}


class Api(BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        print(f"http: {self.command} {self.path} {body}", flush=True)
        found = ANSWERS.get((self.command, self.path))
        data = json.dumps(found if found is not None else {"errors": ["not found"]}).encode()
        self.send_response(200 if found is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = answer
    do_POST = answer

    def log_message(self, *args):
        pass


class Smtp(socketserver.StreamRequestHandler):
    def reply(self, text):
        self.wfile.write((text + "\r\n").encode())

    def handle(self):
        self.reply("220 localhost example SMTP")
        while line := self.rfile.readline():
            cmd = line.decode().strip()
            upper = cmd.upper()
            if upper.startswith(("EHLO", "HELO")):
                self.reply("250-localhost\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME")
            elif upper.startswith("AUTH"):
                self.reply("235 Authentication successful")
            elif upper == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(data.decode("utf-8", "replace").rstrip("\r\n"))
                subject = next((l for l in lines if l.startswith("Subject:")), "Subject: ?")
                print(f"smtp: message of {len(lines)} lines, {subject}", flush=True)
                self.reply("250 OK: queued")
            elif upper == "QUIT":
                self.reply("221 Bye")
                return
            else:
                if upper.startswith(("MAIL", "RCPT")):
                    print(f"smtp: {cmd}", flush=True)
                self.reply("250 OK")


class ThreadingTcp(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    smtp = ThreadingTcp(("127.0.0.1", 8925), Smtp)
    threading.Thread(target=smtp.serve_forever, daemon=True).start()
    print("peers: SMTP on 127.0.0.1:8925, HTTP on 127.0.0.1:8931", flush=True)
    ThreadingHTTPServer(("127.0.0.1", 8931), Api).serve_forever()
