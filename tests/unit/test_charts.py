"""The delivery chart: one stacked bar per day, each outcome's share to scale, a tooltip counting every status."""

from lxml import etree

from feedsvc.web.charts import requests_per_day_svg

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str):
    return etree.fromstring(svg.encode())


def test_each_day_stacks_its_outcomes_to_scale_and_the_tooltip_counts_each_status():
    today = 20_000
    per_day = {today: {200: 2, 304: 1, 401: 5, 404: 5, 503: 3}, today - 1: {200: 4}}
    root = parse(requests_per_day_svg(per_day, days=2, today=today))
    groups = root.findall(f"{SVG}g")
    assert len(groups) == 3  # two days back and today
    titles = [g.find(f"{SVG}title").text for g in groups]
    assert titles[0].endswith(": no requests")
    assert titles[1].endswith(": 4× 200")
    assert titles[2].endswith(": 2× 200, 1× 304, 5× 401, 5× 404, 3× 503")
    bars = {rect.get("class"): float(rect.get("height")) for rect in groups[2].findall(f"{SVG}rect")}
    assert set(bars) == {"bar ok", "bar refused", "bar unavailable"}
    assert bars["bar refused"] == max(bars.values())  # 10 refused against 3 downloaded and 3 unavailable
    assert abs(bars["bar ok"] - bars["bar unavailable"]) < 0.01
    assert groups[2].find(f"{SVG}text[@class='count']").text == "16"
    yesterday = groups[1].findall(f"{SVG}rect")
    assert [r.get("class") for r in yesterday] == ["bar ok"]
    assert float(yesterday[0].get("height")) < sum(bars.values())  # 4 against the tallest day's 16


def test_a_month_labels_every_fifth_day_ending_today_and_no_day_with_nothing_draws_a_bar():
    today = 20_000
    root = parse(requests_per_day_svg({}, days=29, today=today))
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "day"]
    assert len(labels) == 6 and labels[-1] == "04.10"  # day 20,000 since 1970 is 4 October 2024
    assert not list(root.iter(f"{SVG}rect"))

