"""`globalshop report`: the business-impact report from the warehouse alone."""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from ml import paths
from ml.report import html
from ml.report.churn_risk import churn_section
from ml.report.context import ReportContext
from ml.report.customers import customers_section
from ml.report.figures import FigureStore
from ml.report.lifetime_value import lifetime_value_section
from ml.report.recommendations import recommendations_section
from ml.report.settings import ReportSettings
from ml.report.summary import summary_section
from ml.warehouse import connect

REPORT_FILE = "business_impact.html"


@dataclass
class ReportResult:
    html_path: Path
    figure_paths: list[Path]
    summary: html.Section


def _assumptions(settings: ReportSettings) -> html.Section:
    section = html.Section("Assumptions")
    section.add(html.paragraph("Every money figure above rests on these settings; change them "
                               "with `globalshop report --<setting> VALUE`."))
    section.add(html.table(pd.DataFrame(settings.described(),
                                        columns=["setting", "value", "meaning"])))
    return section


def build_report(warehouse: Path | None = None, output_dir: Path | None = None,
                 settings: ReportSettings | None = None) -> ReportResult:
    """Write ``<output_dir>/business_impact.html`` (figures embedded) and
    ``<output_dir>/figures/*.png`` from the warehouse, opened read-only.

    ``output_dir`` defaults to ``$GLOBALSHOP_HOME/reports``."""
    settings = settings or ReportSettings()
    output_dir = Path(output_dir or paths.home() / "reports")
    figures = FigureStore(output_dir / "figures")
    for stale in figures.folder.glob("*.png"):
        stale.unlink()  # a figure of a source no longer present must not linger
    with connect(warehouse) as connection:
        context = ReportContext(connection, settings, figures)
        sections = {"customers": customers_section(context), "churn": churn_section(context),
                    "lifetime_value": lifetime_value_section(context),
                    "recommendations": recommendations_section(context)}
        summary = summary_section(context, {name: section.facts
                                            for name, section in sections.items()})
    warehouse_name = Path(warehouse or paths.warehouse_path())
    page = html.page("GlobalShop business impact",
                     f"Computed from {warehouse_name} on {date.today():%Y-%m-%d}; every number "
                     "is computed from the warehouse, assumptions are listed at the end.",
                     [summary, *sections.values(), _assumptions(settings)])
    output_dir.mkdir(parents=True, exist_ok=True)
    html_path = output_dir / REPORT_FILE
    html_path.write_text(page, encoding="utf-8")
    return ReportResult(html_path, [saved.path for saved in figures.saved], summary)
