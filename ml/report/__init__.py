"""The business-impact report: one module per section (customers, churn_risk, lifetime_value,
recommendations, summary), figures saved as PNG and embedded in one self-contained HTML page.

    from ml.report import ReportSettings, build_report
    build_report(settings=ReportSettings(contact_cost=1.5))
"""

from ml.report.settings import ReportSettings

__all__ = ["ReportResult", "ReportSettings", "build_report"]


def __getattr__(name: str):
    # build pulls in matplotlib; importing the settings (as the CLI does) should not
    if name in ("ReportResult", "build_report"):
        from ml.report import build

        return getattr(build, name)
    raise AttributeError(f"module 'ml.report' has no attribute {name!r}")
