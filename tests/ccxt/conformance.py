#!/usr/bin/env python3
"""ccxt conformance test against `fff sim`.

Runs the calls a funding bot makes through an unmodified ccxt `binance` client, with API keys,
against a running simulator, and checks that the answers make sense. The only configuration is
ccxt's own: `urls['api']` rewritten to the simulator's base URL.

Usage: python conformance.py --base http://127.0.0.1:PORT [--key K --secret S]
Exit status 0 when every check passes; each failure is printed with its traceback.
"""

import argparse
import json
import sys
import time
import traceback
import urllib.request
from decimal import Decimal
from urllib.parse import urlsplit

import ccxt

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def point_at(exchange, base):
    """Rewrites every REST base URL of ccxt's binance class to the simulator (keeps the path)."""
    for name, url in list(exchange.urls["api"].items()):
        if isinstance(url, str) and url.startswith("http"):
            exchange.urls["api"][name] = base.rstrip("/") + urlsplit(url).path


def client(base, key, secret):
    exchange = ccxt.binance({"apiKey": key, "secret": secret})
    point_at(exchange, base)
    return exchange


def free(balance, asset):
    return Decimal(str(balance.get(asset, {}).get("free") or 0))


def position_size(ex, symbol):
    """Signed position size (negative = short), 0 when flat."""
    for p in ex.fetch_positions([symbol]):
        if p["symbol"] == symbol and p["contracts"]:
            return Decimal(p["info"]["positionAmt"])
    return Decimal(0)


def debt(balance, asset):
    return Decimal(str(balance.get(asset, {}).get("debt") or 0))


def total(balance, asset):
    return Decimal(str(balance.get(asset, {}).get("total") or 0))


# ---- market data -------------------------------------------------------------------------------


@check
def load_markets(ex):
    markets = ex.load_markets()
    for symbol in ("BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"):
        expect(symbol in markets, f"market {symbol} missing")
    spot = markets["BTC/USDT"]
    expect(spot["spot"] and spot["active"], "BTC/USDT is an active spot market")
    expect(spot["margin"], "BTC/USDT is cross-margin tradable")
    expect(spot["precision"]["amount"] and spot["precision"]["price"], "spot precision")
    expect(spot["limits"]["cost"]["min"], "spot min notional")
    perp = markets["BTC/USDT:USDT"]
    expect(perp["swap"] and perp["linear"] and perp["settle"] == "USDT", "BTC/USDT:USDT is a linear swap")
    expect(perp["contractSize"] == 1, "linear contract size 1")
    expect("USDT" in ex.currencies and "BTC" in ex.currencies, "currencies loaded")


@check
def fetch_ticker(ex):
    t = ex.fetch_ticker("BTC/USDT")
    expect(t["bid"] and t["ask"] and t["bid"] < t["ask"], f"spot bid < ask: {t['bid']} {t['ask']}")
    expect(t["last"] and t["quoteVolume"], "spot last and volume")
    f = ex.fetch_ticker("BTC/USDT:USDT")
    expect(f["last"] and f["last"] > 0, "perp last")


@check
def fetch_tickers(ex):
    ts = ex.fetch_tickers(["BTC/USDT", "ETH/USDT"])
    expect(set(ts) >= {"BTC/USDT", "ETH/USDT"}, f"spot tickers: {list(ts)}")
    all_spot = ex.fetch_tickers()
    expect(len(all_spot) >= 10, "every spot ticker")
    perps = ex.fetch_tickers(["BTC/USDT:USDT", "ETH/USDT:USDT"])
    expect(set(perps) >= {"BTC/USDT:USDT", "ETH/USDT:USDT"}, f"perp tickers: {list(perps)}")


@check
def fetch_order_book(ex):
    for symbol in ("BTC/USDT", "BTC/USDT:USDT"):
        ob = ex.fetch_order_book(symbol, 5)
        expect(len(ob["bids"]) == 5 and len(ob["asks"]) == 5, f"{symbol}: 5 levels each side")
        expect(ob["bids"][0][0] < ob["asks"][0][0], f"{symbol}: book not crossed")
        expect(ob["bids"][0][0] > ob["bids"][-1][0], f"{symbol}: bids descending")


@check
def fetch_funding_rate(ex):
    fr = ex.fetch_funding_rate("BTC/USDT:USDT")
    expect(fr["fundingRate"] is not None, "funding rate")
    expect(fr["markPrice"] and fr["indexPrice"], "mark and index price")
    # ccxt maps premiumIndex's nextFundingTime to fundingTimestamp
    expect(fr["fundingTimestamp"] and fr["fundingTimestamp"] > fr["timestamp"], "next funding time")
    intervals = ex.fetch_funding_intervals(["BTC/USDT:USDT", "DOGE/USDT:USDT"])
    expect(intervals["BTC/USDT:USDT"]["interval"] == "8h", f"BTC funding interval: {intervals}")
    expect(intervals["DOGE/USDT:USDT"]["interval"] == "1h", f"DOGE funding interval: {intervals}")


@check
def fetch_funding_rates(ex):
    frs = ex.fetch_funding_rates()
    expect(len(frs) >= 10 and "ETH/USDT:USDT" in frs, f"funding rates: {list(frs)}")
    some = ex.fetch_funding_rates(["BTC/USDT:USDT", "SOL/USDT:USDT"])
    expect(set(some) == {"BTC/USDT:USDT", "SOL/USDT:USDT"}, f"filtered funding rates: {list(some)}")


@check
def fetch_funding_rate_history(ex):
    hist = ex.fetch_funding_rate_history("BTC/USDT:USDT", limit=10)
    expect(len(hist) == 10, f"10 funding rows, got {len(hist)}")
    times = [h["timestamp"] for h in hist]
    expect(times == sorted(times), "ascending funding times")
    expect(all(b - a == 8 * 3600 * 1000 for a, b in zip(times, times[1:])), "8h apart")
    since = ex.milliseconds() - 3 * 86400 * 1000
    recent = ex.fetch_funding_rate_history("SOL/USDT:USDT", since=since, limit=5)
    expect(len(recent) == 5 and recent[0]["timestamp"] >= since, "since honoured")


# ---- balances ----------------------------------------------------------------------------------


@check
def fetch_balances(ex):
    spot = ex.fetch_balance()
    expect(free(spot, "USDT") > 0, "spot USDT")
    margin = ex.fetch_balance({"type": "margin", "marginMode": "cross"})
    expect(free(margin, "USDT") > 0, "cross margin USDT")
    fut = ex.fetch_balance({"type": "future"})
    expect(total(fut, "USDT") > 0, "futures USDT")
    swap = ex.fetch_balance({"type": "swap"})
    expect(total(swap, "USDT") == total(fut, "USDT"), "swap and future balances are the same wallet")


@check
def venue_and_fees(ex):
    expect(ex.fetch_status()["status"] == "ok", "system status")
    fee = ex.fetch_trading_fee("BTC/USDT")
    expect(fee["maker"] == 0.001 and fee["taker"] == 0.001, f"spot VIP0 fees: {fee}")
    fees = ex.fetch_trading_fees()
    expect("ETH/USDT" in fees and fees["ETH/USDT"]["taker"] == 0.001, "every spot fee")
    perp = ex.fetch_trading_fee("BTC/USDT:USDT")
    expect(perp["maker"] == 0.0002 and perp["taker"] == 0.0005, f"futures VIP0 fees: {perp}")
    expect(ex.fetch_position_mode("BTC/USDT:USDT")["hedged"] is False, "one-way mode")
    expect(ex.fetch_margin_mode("BTC/USDT:USDT")["marginMode"] == "cross", "cross margin mode")


@check
def transfers(ex):
    spot_before = free(ex.fetch_balance(), "USDT")
    swap_before = total(ex.fetch_balance({"type": "swap"}), "USDT")
    there = ex.transfer("USDT", 100, "spot", "swap")
    back = ex.transfer("USDT", 40, "swap", "spot")
    expect(there["id"] and back["id"] and there["id"] != back["id"], "transfer ids")
    expect(free(ex.fetch_balance(), "USDT") == spot_before - 60, "spot USDT after transfers")
    expect(total(ex.fetch_balance({"type": "swap"}), "USDT") == swap_before + 60, "futures USDT after transfers")
    ex.transfer("USDT", 25, "spot", "margin")
    history = ex.fetch_transfers("USDT", params={"fromAccount": "spot", "toAccount": "swap"})
    row = [t for t in history if t["id"] == there["id"]]
    expect(row and row[0]["amount"] == 100 and row[0]["status"] == "ok", f"transfer history: {history}")
    expect(row[0]["fromAccount"] == "spot" and row[0]["toAccount"] == "linear", f"accounts: {row[0]}")


# ---- spot orders -------------------------------------------------------------------------------


@check
def spot_orders(ex):
    before = ex.fetch_balance()
    o = ex.create_order("ETH/USDT", "market", "buy", 0.05)
    expect(o["status"] == "closed", f"market buy closed: {o['status']}")
    expect(o["filled"] == 0.05 and o["average"] and o["cost"], f"filled 0.05 at a price: {o}")
    after = ex.fetch_balance()
    bought = total(after, "ETH") - total(before, "ETH")
    expect(Decimal("0.049") <= bought <= Decimal("0.05"), f"ETH received less the fee: {bought}")
    expect(free(after, "USDT") < free(before, "USDT"), "USDT spent")

    fetched = ex.fetch_order(o["id"], "ETH/USDT")
    expect(fetched["id"] == o["id"] and fetched["status"] == "closed", "fetch_order after fill")

    trades = ex.fetch_my_trades("ETH/USDT")
    expect(any(t["order"] == o["id"] for t in trades), "my trades include the fill")
    expect(all(t["fee"] and t["fee"]["cost"] is not None for t in trades), "trades carry fees")

    ticker = ex.fetch_ticker("ETH/USDT")
    price = ex.price_to_precision("ETH/USDT", ticker["bid"] * 0.9)
    limit = ex.create_order("ETH/USDT", "limit", "buy", 0.01, float(price))
    expect(limit["status"] == "open", f"limit below the bid rests: {limit['status']}")
    open_orders = ex.fetch_open_orders("ETH/USDT")
    expect(any(x["id"] == limit["id"] for x in open_orders), "resting order listed")
    canceled = ex.cancel_order(limit["id"], "ETH/USDT")
    expect(canceled["status"] == "canceled", f"canceled: {canceled['status']}")
    expect(not any(x["id"] == limit["id"] for x in ex.fetch_open_orders("ETH/USDT")), "gone after cancel")

    crossing = ex.create_order("ETH/USDT", "limit", "buy", 0.01, float(ex.price_to_precision("ETH/USDT", ticker["ask"] * 1.01)))
    expect(crossing["status"] == "closed" and crossing["filled"] == 0.01, f"marketable limit fills: {crossing}")
    expect(crossing["average"] <= crossing["price"], "a buy limit fills at or below its price")

    resting = ex.create_order("ETH/USDT", "limit", "buy", 0.01, float(ex.price_to_precision("ETH/USDT", ticker["bid"] * 0.99)))
    expect(resting["status"] == "open", "limit 1 % below the bid rests")
    eth_before_fill = total(ex.fetch_balance(), "ETH")
    shock(ex, "ETHUSDT", -5)
    filled = wait_for(lambda: ex.fetch_order(resting["id"], "ETH/USDT"), lambda o: o["status"] == "closed")
    expect(filled["filled"] == 0.01 and filled["average"] == resting["price"], f"maker fill at the limit price: {filled}")
    eth_after_fill = total(ex.fetch_balance(), "ETH")
    expect(eth_after_fill - eth_before_fill == Decimal("0.00999"), f"0.01 ETH less 0.1 %: {eth_after_fill - eth_before_fill}")

    sell = ex.create_order("ETH/USDT", "market", "sell", 0.02)
    expect(sell["status"] == "closed" and sell["filled"] == 0.02, "market sell")
    orders = ex.fetch_orders("ETH/USDT")
    expect({o["id"], limit["id"], sell["id"]} <= {x["id"] for x in orders}, "fetch_orders lists all three")


# ---- cross margin ------------------------------------------------------------------------------


@check
def margin_borrow_repay(ex):
    before = ex.fetch_balance({"type": "margin", "marginMode": "cross"})
    # Binance answers a borrow or repay with its transaction id only ({"tranId": N}).
    loan = ex.borrow_cross_margin("SOL", 2)
    expect(loan["currency"] == "SOL" and loan["id"], f"borrow: {loan}")
    mid = ex.fetch_balance({"type": "margin", "marginMode": "cross"})
    expect(free(mid, "SOL") - free(before, "SOL") == 2, "borrowed SOL is free in margin")
    expect(Decimal(str(mid["SOL"]["debt"])) >= 2, f"SOL debt recorded: {mid['SOL']}")
    repaid = ex.repay_cross_margin("SOL", 1)
    expect(repaid["currency"] == "SOL" and repaid["id"] and repaid["id"] != loan["id"], f"repay: {repaid}")
    after = ex.fetch_balance({"type": "margin", "marginMode": "cross"})
    expect(Decimal(str(after["SOL"]["debt"])) < Decimal(str(mid["SOL"]["debt"])), "debt reduced")
    expect(free(after, "SOL") == free(mid, "SOL") - 1, "repaid SOL left the margin wallet")


@check
def margin_orders(ex):
    params = {"marginMode": "cross"}
    before = ex.fetch_balance({"type": "margin", "marginMode": "cross"})
    sell = ex.create_order("SOL/USDT", "market", "sell", 0.5, None, params)
    expect(sell["status"] == "closed" and sell["filled"] == 0.5, f"margin market sell: {sell}")
    after = ex.fetch_balance({"type": "margin", "marginMode": "cross"})
    expect(free(after, "USDT") > free(before, "USDT"), "USDT proceeds in margin")
    expect(free(after, "SOL") < free(before, "SOL"), "SOL sold from margin")

    fetched = ex.fetch_order(sell["id"], "SOL/USDT", params)
    expect(fetched["status"] == "closed", "fetch margin order")
    trades = ex.fetch_my_trades("SOL/USDT", params=params)
    expect(any(t["order"] == sell["id"] for t in trades), "margin trades include the fill")

    ticker = ex.fetch_ticker("SOL/USDT")
    price = float(ex.price_to_precision("SOL/USDT", ticker["ask"] * 1.2))
    limit = ex.create_order("SOL/USDT", "limit", "sell", 0.1, price, params)
    expect(limit["status"] == "open", f"margin limit above the ask rests: {limit['status']}")
    expect(any(x["id"] == limit["id"] for x in ex.fetch_open_orders("SOL/USDT", params=params)), "margin open orders")
    canceled = ex.cancel_order(limit["id"], "SOL/USDT", params)
    expect(canceled["status"] == "canceled", "margin cancel")

    # The hedge leg of a negative-funding trade: sell borrowed coins, buy them back to repay.
    margin = {"type": "margin", "marginMode": "cross"}
    debt_before = debt(ex.fetch_balance(margin), "ETH")
    short = ex.create_order("ETH/USDT", "market", "sell", 0.1, None, {**params, "sideEffectType": "MARGIN_BUY"})
    expect(short["status"] == "closed" and short["filled"] == 0.1, f"margin short: {short}")
    debt_short = debt(ex.fetch_balance(margin), "ETH")
    expect(debt_short >= debt_before + Decimal("0.1"), f"MARGIN_BUY borrowed ETH: {debt_before} -> {debt_short}")
    cover = ex.create_order("ETH/USDT", "market", "buy", 0.1, None, {**params, "sideEffectType": "AUTO_REPAY"})
    expect(cover["status"] == "closed", "margin cover")
    debt_after = debt(ex.fetch_balance(margin), "ETH")
    expect(debt_short - debt_after >= Decimal("0.099"), f"AUTO_REPAY repaid what the buy received: {debt_short} -> {debt_after}")


# ---- USD-M futures -----------------------------------------------------------------------------


@check
def futures_orders(ex):
    symbol = "ETH/USDT:USDT"
    ex.set_leverage(3, symbol)
    expect(ex.fetch_leverage(symbol)["longLeverage"] == 3, "leverage 3 after set_leverage")
    before = ex.fetch_balance({"type": "future"})
    size_before = position_size(ex, symbol)
    short = ex.create_order(symbol, "market", "sell", 0.05)
    expect(short["status"] == "closed" and short["filled"] == 0.05, f"futures market sell: {short}")
    fetched = ex.fetch_order(short["id"], symbol)
    expect(fetched["status"] == "closed" and fetched["average"], "fetch futures order")

    book = ex.fetch_order_book(symbol, 5)
    crossing = ex.create_order(symbol, "limit", "sell", 0.01, float(ex.price_to_precision(symbol, book["bids"][0][0] * 0.99)))
    expect(crossing["status"] == "closed" and crossing["filled"] == 0.01, f"marketable futures limit: {crossing}")

    pos = [p for p in ex.fetch_positions([symbol]) if p["symbol"] == symbol]
    expect(position_size(ex, symbol) - size_before == Decimal("-0.06"), f"sold 0.06: {pos}")
    expect(pos and pos[0]["entryPrice"] and pos[0]["markPrice"], "entry and mark price")
    all_positions = ex.fetch_positions()
    expect(any(p["symbol"] == symbol for p in all_positions), "fetch_positions without symbols")

    after = ex.fetch_balance({"type": "future"})
    expect(after["info"]["totalWalletBalance"] < before["info"]["totalWalletBalance"] or
           Decimal(after["info"]["totalWalletBalance"]) < Decimal(before["info"]["totalWalletBalance"]),
           "futures commission paid")
    expect(Decimal(after["info"]["totalInitialMargin"]) > 0, "initial margin in use")

    trades = ex.fetch_my_trades(symbol)
    expect(any(t["order"] == short["id"] for t in trades), "futures trades include the fill")
    expect(all(t["fee"]["currency"] == "USDT" for t in trades), "futures fees in USDT")

    ticker = ex.fetch_ticker(symbol)
    price = float(ex.price_to_precision(symbol, ticker["last"] * 0.9))
    limit = ex.create_order(symbol, "limit", "buy", 0.05, price)
    expect(limit["status"] == "open", f"futures limit rests: {limit['status']}")
    expect(any(x["id"] == limit["id"] for x in ex.fetch_open_orders(symbol)), "futures open orders")
    canceled = ex.cancel_order(limit["id"], symbol)
    expect(canceled["status"] == "canceled", "futures cancel")


@check
def funding_history(ex):
    """Holds the ETH short across a settlement (the simulator's clock moved 8 h by its admin
    endpoint), then reads the FUNDING_FEE income through ccxt and closes the position."""
    symbol = "ETH/USDT:USDT"
    rate = ex.fetch_funding_rate(symbol)["fundingRate"]
    expect(rate, "ETH has a non-zero funding rate")
    size = position_size(ex, symbol)
    expect(size < 0, f"the ETH short is open: {size}")
    advance_clock(ex, hours=8)
    income = ex.fetch_funding_history(symbol)
    expect(income, "a funding payment after 8 h")
    row = income[-1]
    expect(row["symbol"] == symbol and row["code"] == "USDT", f"income row: {row}")
    # Funding paid = size x mark x rate (a short receives a positive rate), at the settled values.
    settled = ex.fetch_funding_rate_history(symbol, since=row["timestamp"] - 60_000, limit=1)
    expect(settled and abs(settled[0]["timestamp"] - row["timestamp"]) < 60_000, f"settlement row: {settled}")
    expected = -size * Decimal(settled[0]["info"]["markPrice"]) * Decimal(settled[0]["info"]["fundingRate"])
    got = Decimal(str(row["amount"]))
    expect(abs(got - expected) <= Decimal("0.00000002") + abs(expected) * Decimal("1e-9"),
           f"funding fee {got} != -{size} x mark x rate = {expected}")
    everything = ex.fetch_funding_history()
    expect(any(r["id"] == row["id"] for r in everything), "funding history without symbol")
    ledger = ex.fapiPrivateGetIncome({"incomeType": "COMMISSION"})
    expect(ledger and all(x["incomeType"] == "COMMISSION" for x in ledger), "commission income rows")

    close = ex.create_order(symbol, "market", "buy", 0.06, None, {"reduceOnly": True})
    expect(close["status"] == "closed", "futures reduce-only close")
    expect(position_size(ex, symbol) == size + Decimal("0.06"), "0.06 bought back")


def admin(ex, path, body):
    """The simulator's admin endpoints (not Binance API)."""
    base = ex.urls["api"]["public"].rsplit("/api/", 1)[0]
    req = urllib.request.Request(
        base + "/admin/" + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        expect(resp.status == 200, f"admin {path}: {resp.status}")


def shock(ex, symbol, pct):
    admin(ex, "shock", {"symbol": symbol, "pct": str(pct)})


def wait_for(fetch, done, seconds=10):
    deadline = time.monotonic() + seconds
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def advance_clock(ex, hours):
    """Moves simulated time forward (funding settles, interest accrues)."""
    admin(ex, "clock/advance", {"hours": hours})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--key", default="fff-paper-key")
    parser.add_argument("--secret", default="fff-paper-secret")
    parser.add_argument("--only", action="append", help="run only these checks")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    args = parser.parse_args()
    ex = client(args.base, args.key, args.secret)
    print(f"ccxt {ccxt.__version__} against {args.base}")
    failed = 0
    for fn in CHECKS:
        if args.only and fn.__name__ not in args.only and fn.__name__ != "load_markets":
            continue
        started = time.monotonic()
        try:
            fn(ex)
            print(f"ok   {fn.__name__} ({time.monotonic() - started:.2f}s)")
        except Exception:
            failed += 1
            print(f"FAIL {fn.__name__}")
            traceback.print_exc(file=sys.stdout)
            if args.fail_fast:
                break
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
