"""What a feed check found: a `Report` of `Finding`s, kept in bounded memory.

A hostile document can break one rule millions of times; the report keeps the
first `FINDINGS_PER_RULE` findings of each rule and only counts the rest, so
the counts of errors and warnings stay exact while memory stays flat.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from feedsvc.retino.rules import Finding

FINDINGS_PER_RULE = 1000


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    omitted: Counter = field(default_factory=Counter)  # (code, severity) -> findings counted, not kept
    orders: int = 0
    items: int = 0
    bytes: int = 0
    without_package: int = 0
    elapsed: float = 0.0
    fetch_seconds: float | None = None
    well_formed: bool = True
    complete: bool = False  # every byte was read and checked
    per_rule: int = FINDINGS_PER_RULE
    _kept: Counter = field(default_factory=Counter, repr=False)

    def add(self, finding: Finding, *, merging: bool = False) -> None:
        """Keep `finding`, or only count it when its rule has its fill (`merging`: keep it for now,
        `finish()` trims once everything is in)."""
        if merging or self._kept[finding.code] < self.per_rule:
            self._kept[finding.code] += 1
            self.findings.append(finding)
        else:
            self.omitted[finding.code, finding.severity] += 1

    def wants(self, code: str) -> bool:
        """False once `code` has its fill of kept findings (the caller may then just count)."""
        return self._kept[code] < self.per_rule

    def extend(self, findings) -> None:
        for finding in findings:
            self.add(finding)

    def count(self, code: str, severity: str, number: int) -> None:
        """Findings known only by their number (merged from another report)."""
        self.omitted[code, severity] += number

    def finish(self) -> None:
        """Put the findings in document order; when two passes' findings were merged, keep the first
        `per_rule` of each rule by that order (each pass kept its own first ones), count the rest."""
        self.findings.sort(key=lambda f: (f.line or 0, f.path, f.code, f.message))
        kept: Counter[str] = Counter()
        per_rule = self.per_rule
        trimmed = []
        for finding in self.findings:
            kept[finding.code] += 1
            if kept[finding.code] <= per_rule:
                trimmed.append(finding)
            else:
                self.omitted[finding.code, finding.severity] += 1
        self.findings = trimmed
        self._kept = Counter({code: min(number, per_rule) for code, number in kept.items()})

    def _total(self, severity: str) -> int:
        kept = sum(1 for f in self.findings if f.severity == severity)
        return kept + sum(n for (_, level), n in self.omitted.items() if level == severity)

    @property
    def errors(self) -> int:
        return self._total("error")

    @property
    def warnings(self) -> int:
        return self._total("warning")

    @property
    def valid(self) -> bool:
        return self.well_formed and self.complete and self.errors == 0

    def as_dict(self) -> dict:
        return {
            "valid": self.valid, "orders": self.orders, "items": self.items, "bytes": self.bytes,
            "errors": self.errors, "warnings": self.warnings, "without_package_number": self.without_package,
            "findings": [f.as_dict() for f in self.findings if f.severity != "info"],
            "omitted": [{"code": code, "severity": severity, "count": number}
                        for (code, severity), number in sorted(self.omitted.items()) if severity != "info"],
        }
