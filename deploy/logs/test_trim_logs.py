"""Offline test of trim_logs.py (run by .ci/validate-deploy.sh): a gateway that logs 200 times
more than the others must not push the scanner's or the simulator's lines out of the request,
errors come before the tail, and old lines are dropped."""

import json
import subprocess
import sys
import tempfile
import unittest
from datetime import datetime, timedelta, timezone
from pathlib import Path

SCRIPT = Path(__file__).with_name("trim_logs.py")
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def line(minutes_ago: float, level: str, message: str, target: str, **fields) -> str:
    ts = (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({"timestamp": ts, "level": level, "message": message, "target": target, **fields})


class TrimLogs(unittest.TestCase):
    def run_trim(self, files: dict[str, list[str]], budget: int) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            for name, lines in files.items():
                Path(tmp, f"{name}.log").write_text("\n".join(lines) + "\n")
            result = subprocess.run(
                [sys.executable, str(SCRIPT), tmp, "--budget", str(budget), "--since-hours", "4",
                 "--now", NOW.isoformat()],
                capture_output=True, text=True, check=True,
            )
        return result.stdout

    def test_every_role_reaches_the_request(self):
        gateway = [line(300, "ERROR", "too old to send", "fff_gateway")]
        gateway += [line(200 - i * 0.001, "INFO", f"transfer answered {i}", "fff_gateway::service",
                         transaction_id=str(i)) for i in range(40000)]
        gateway.insert(5, line(199, "ERROR", "websocket closed: 1006", "fff_gateway::market"))
        gateway += [line(1, "WARN", "rate limit at 85 %", "fff_gateway::throttle")] * 50
        scanner = [line(100, "INFO", "scan cycle", "fff_scanner"),
                   line(90, "WARN", "market data 130 s old", "fff_scanner::feed", shard="1/3")]
        files = {
            "gateway": gateway,
            "scanner": scanner,
            "executor": [line(10, "ERROR", "executor task failed", "fff_executor::engine",
                              error="-1008 Server is currently overloaded")],
            "risk": [line(5, "INFO", "tier green", "fff_risk")],
            "rebalancer": [line(5, "INFO", "review done", "fff_rebalancer")],
            "sim": [line(5, "INFO", "telemetry initialized", "fff_runtime::telemetry")],
            "up": ["fff up: rebalancer exited (exit status: 1); restarting in 1s; see .fff/logs/rebalancer.log"],
        }
        budget = 60_000
        out = self.run_trim(files, budget)
        self.assertLessEqual(len(out.encode()), budget)
        for role in ["gateway", "scanner", "executor", "risk", "rebalancer", "sim", "up"]:
            self.assertIn(f"### {role}:", out)
        self.assertIn("market data 130 s old", out)
        self.assertIn("-1008 Server is currently overloaded", out)
        self.assertIn("restarting in 1s", out)
        # the early error survives although 40000 newer lines follow it
        self.assertIn("websocket closed: 1006", out)
        self.assertNotIn("too old to send", out)
        # repeated warnings are grouped with a count, not repeated
        self.assertIn("[WARN x50 ", out)
        gateway_section = next(s for s in out.split("\n### ") if s.startswith("gateway:"))
        self.assertLess(gateway_section.index(": errors and warnings"), gateway_section.index(": last "))
        # the quiet roles are sent whole, the gateway gets the rest of the budget
        self.assertIn("transfer answered 39999", gateway_section)

    def test_plain_lines_and_market_scanner_name(self):
        out = self.run_trim({"market-scanner": ["thread 'main' panicked at src/lib.rs:1:1"]}, 10_000)
        self.assertIn("### scanner:", out)
        self.assertIn("[ERROR x1", out)


if __name__ == "__main__":
    unittest.main()
