"""The `globalshop` command: generate or import raw data, build the warehouse, and score it."""

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from ml import paths
from ml.bench import add_arguments as add_bench_arguments
from ml.data.formats import RAW_FORMATS
from ml.report.settings import ReportSettings


class UserError(Exception):
    """A problem the user can fix; printed without a stack trace."""


def cmd_generate(args: argparse.Namespace) -> None:
    from ml.data.generator import generate_shop

    raw_dir = paths.raw_dir()
    summary = generate_shop(raw_dir, scale=args.scale, seed=args.seed)
    print(f"Generated a shop at scale {args.scale} (seed {args.seed}) under {raw_dir}")
    for kind in ("online_retail_ii", "events", "customer_profiles"):
        details = ", ".join(f"{key} {value:,}" if isinstance(value, int) else f"{key} {value}"
                            for key, value in summary[kind].items())
        print(f"  {kind}: {details}")
    print(f"  in {summary['seconds']:.1f} s")


def cmd_import(args: argparse.Namespace) -> None:
    from ml.data.importer import import_file

    path = Path(args.path) if args.path else None
    if path is None and args.kind != "cdnow":
        raise UserError(f"`globalshop data import {args.kind}` needs the path of your file.")
    print(import_file(args.kind, path, paths.raw_dir(), replace=not args.append))


def cmd_download(args: argparse.Namespace) -> None:
    from ml.data.download import download_online_retail_ii

    print(download_online_retail_ii(paths.home() / "data" / "downloads", raw_dir=paths.raw_dir()))


def cmd_build(args: argparse.Namespace) -> None:
    from ml.build import build

    print(f"Building the warehouse for {paths.home()} (dbt output: logs/dbt_build.log) ...")
    result = build(args.dbt_args)
    print(result.summary)
    if not result.succeeded:
        raise UserError(f"dbt build failed after {result.seconds:.0f} s; full output in {result.log_path}")
    print(f"Built in {result.seconds:.0f} s; dbt's output is in {result.log_path}")


def cmd_score(args: argparse.Namespace) -> None:
    from ml.score_job import score

    result = score(args.tables)
    for table, rows in result.rows.items():
        print(f"  {rows:>12,}  {table}")
    if result.readers:
        print(f"  and built what reads them: {', '.join(result.readers)}")
    print(f"Scored on the {result.target} target in {result.seconds:.0f} s")


def cmd_freshness(args: argparse.Namespace) -> None:
    from ml.build import source_freshness

    statuses = source_freshness()
    if not statuses:
        raise UserError(f"no raw files under {paths.raw_dir()}: nothing to check.")
    for source, status in sorted(statuses.items()):
        print(f"  {source:<40} {status}")
    if any(status not in ("pass", "warn") for status in statuses.values()):
        raise UserError("a source's newest raw file is older than raw_files_error_after_days "
                        "(or could not be read): import fresh data.")


def cmd_demo(args: argparse.Namespace) -> None:
    if not any(paths.raw_dir().glob("*/*.parquet")):
        cmd_generate(args)
    else:
        print(f"Using the raw data already under {paths.raw_dir()}")
    cmd_build(argparse.Namespace(dbt_args=[]))
    cmd_report(argparse.Namespace(output_dir=None))


def cmd_report(args: argparse.Namespace) -> None:
    from ml.report import build_report

    overrides = {item.name: getattr(args, item.name) for item in fields(ReportSettings)
                 if getattr(args, item.name, None) is not None}
    result = build_report(output_dir=Path(args.output_dir) if args.output_dir else None,
                          settings=ReportSettings(**overrides))
    print(f"Report: {result.html_path} ({len(result.figure_paths)} figures in "
          f"{result.html_path.parent / 'figures'})")
    for label, value in result.summary.facts.get("numbers", []):
        print(f"  {value:>28}  {label}")


RECOMMENDATIONS_SQL = """
select recommendations.rank, recommendations.product_id, products.description,
       recommendations.score, recommendations.reason
from main.customer_recommendations as recommendations
left join main.dim_products as products on recommendations.product_id = products.product_id
where recommendations.customer_id = $customer_id
order by recommendations.rank
"""


def cmd_recommend(args: argparse.Namespace) -> None:
    from ml.warehouse import connect, customer_lookup, table_exists

    with connect() as connection:
        if not table_exists(connection, "main", "customer_recommendations"):
            raise UserError("the warehouse has no recommendations yet; run `globalshop build`.")
        customers = customer_lookup(connection, args.customer)
        if customers.empty:
            raise UserError(f"no customer {args.customer!r} in the warehouse. Give the id as in "
                            "your data (17850) or with its source (online_retail:17850).")
        if len(customers) > 1:
            choices = ", ".join(customers["customer_id"])
            raise UserError(f"{args.customer!r} is a customer of several sources: {choices}. "
                            "Give one of these ids.")
        customer = customers.iloc[0]
        rows = connection.execute(RECOMMENDATIONS_SQL,
                                  {"customer_id": customer["customer_id"]}).fetchall()
    segment = customer.get("rfm_segment")
    print(f"Customer {customer['customer_id']}"
          + (f" ({segment}, {int(customer['frequency'])} orders)" if isinstance(segment, str) else ""))
    if not rows:
        print("  No recommendations: the customer has no purchase, or their source has too little "
              "history to train the recommenders (see model_metrics).")
    for rank, product_id, description, score, reason in rows[:args.top]:
        print(f"  {rank:>2}. {description or product_id}  [{product_id}]  ({reason})")


def cmd_bench(args: argparse.Namespace) -> None:
    from ml import bench
    argv = ["--events", *map(str, args.events), "--repeats", str(args.repeats), "--home", args.home]
    bench.main(argv + ([] if args.record else ["--no-record"])
               + (["--sql-only"] if args.sql_only else []))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="globalshop",
        description="GlobalShop customer analytics: raw e-commerce data to customer scores. "
                    "Files live under $GLOBALSHOP_HOME (default: the repository).")
    commands = top.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="generate, import or download raw data")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    generate = data_commands.add_parser("generate", help="generate a realistic shop in the public formats")
    generate.add_argument("--scale", type=float, default=1.0,
                          help="1.0 is the size of UCI Online Retail plus 1M events (default 1.0)")
    generate.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    generate.set_defaults(handler=cmd_generate)
    importing = data_commands.add_parser("import", help="import a real file into data/raw/<kind>/")
    importing.add_argument("kind", choices=sorted(RAW_FORMATS))
    importing.add_argument("path", nargs="?", help="CSV, Parquet or .xlsx file (none for cdnow)")
    importing.add_argument("--append", action="store_true",
                           help="add to the kind's files instead of replacing them")
    importing.set_defaults(handler=cmd_import)
    download = data_commands.add_parser("download", help="download a public data set")
    download.add_argument("dataset", choices=["online-retail-ii"])
    download.set_defaults(handler=cmd_download)

    build = commands.add_parser("build", help="run `dbt build` on this shop's data")
    build.add_argument("dbt_args", nargs="*", metavar="DBT_ARGUMENT",
                       help="anything after `build` is passed to dbt build as it is, e.g. "
                            "--select customer_rfm+ or --vars '{as_of_date: 2011-06-01}'")
    build.set_defaults(handler=cmd_build)

    report = commands.add_parser("report", help="write reports/business_impact.html from the warehouse")
    report.add_argument("--output-dir", help="folder for the report (default: $GLOBALSHOP_HOME/reports)")
    for setting in fields(ReportSettings):
        if setting.name == "currencies":
            continue  # a mapping: set it through the Python API
        kind = str if setting.name == "main_source" else type(setting.default)
        report.add_argument(f"--{setting.name.replace('_', '-')}", dest=setting.name, type=kind,
                            help=f"report assumption (default {setting.default}; meanings are "
                                 "listed at the end of the report)")
    report.set_defaults(handler=cmd_report)

    freshness = commands.add_parser("freshness", help="how old each source's newest raw file is "
                                                      "(dbt source freshness)")
    freshness.set_defaults(handler=cmd_freshness)

    recommend = commands.add_parser("recommend", help="print a customer's recommendations")
    recommend.add_argument("--customer", required=True,
                           help="customer id, as in your data (17850) or with its source "
                                "(online_retail:17850)")
    recommend.add_argument("--top", type=int, default=10, help="how many to print (default 10)")
    recommend.set_defaults(handler=cmd_recommend)

    scoring = commands.add_parser("score", help="write the score tables to the current dbt target "
                                                "(GLOBALSHOP_TARGET: duckdb or spark)")
    scoring.add_argument("tables", nargs="*", help="score tables to write (default: all)")
    scoring.set_defaults(handler=cmd_score)

    bench = commands.add_parser("bench", help="time and memory of every stage at 1M, 10M and 42M "
                                              "events (median of 3); writes BENCHMARKS.md")
    add_bench_arguments(bench)
    bench.set_defaults(handler=cmd_bench)

    demo = commands.add_parser("demo", help="generate the default shop if there is no data, build "
                                            "the warehouse and write the report")
    demo.add_argument("--scale", type=float, default=1.0)
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(handler=cmd_demo)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["build"] and not {"-h", "--help"} & set(argv[1:]):
        # everything after `build` goes to dbt as it is (--select, --vars '{...}', ...)
        args = parser().parse_args(["build"])
        args.dbt_args = argv[1:]
    else:
        args = parser().parse_args(argv)
    try:
        args.handler(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (ValueError, OSError, RuntimeError) as error:
        # the importer's, downloader's and warehouse's errors say what is wrong and how to fix it
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
