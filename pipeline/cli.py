"""`curate run | audit | verify`: argument parsing and exit codes only.

Exit codes: 0 success; 2 usage or config error (one line naming the bad key or file); 1 run failure
(and a failed run never leaves a manifest.json).
"""
from __future__ import annotations

import argparse
import logging
import sys

from pipeline.config import ConfigError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's usage errors exit 2 with one line, like ours
        self.exit(EXIT_USAGE, f"curate: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="curate", description="Curate LLM training data: compliance, dedup, provenance.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser(
        "run",
        help="run the pipeline",
        description="Run the curation pipeline. Unrecognised --options are passed to Apache Beam unchanged.",
    )
    run.add_argument("--input", action="append", required=True, metavar="URI", help="file, folder, glob, gs:// or s3:// (repeatable)")
    run.add_argument("--output", required=True, metavar="OUT", help="output folder (must be empty unless --overwrite)")
    run.add_argument("--config", metavar="FILE.yaml", help="YAML config; omitted: the embedded defaults")
    run.add_argument("--runner", metavar="NAME", help="Beam runner (default DirectRunner, offline)")
    run.add_argument("--profile", metavar="NAME|FILE.yaml", help="runner profile: a named set of Beam options (pipeline/profiles/); command-line options win")
    run.add_argument("--overwrite", action="store_true",
                     help="replace an earlier curate output in OUT (kept readable until the new run commits)")
    run.add_argument("--quiet", action="store_true", help="no progress logging")

    audit = sub.add_parser("audit", help="query a run's output with DuckDB")
    audit.add_argument("out", metavar="OUT")
    audit.add_argument("sql", nargs="?", help='SQL over the views documents, decisions, quarantine, trajectories, signatures, manifest')
    audit.add_argument("--query", metavar="NAME", help="run manifests/queries/NAME.sql")
    audit.add_argument("--list", action="store_true", help="list the canned queries")
    audit.add_argument("--format", choices=["table", "csv", "json"], default="table")

    verify = sub.add_parser("verify", help="check OUT against its manifest (hashes, row counts, extra files)")
    verify.add_argument("out", metavar="OUT")
    return parser


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("pipeline").setLevel(logging.WARNING if quiet else logging.INFO)
    for noisy in ("apache_beam", "presidio-analyzer", "presidio-anonymizer", "trafilatura", "htmldate", "root"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def cmd_run(args, beam_args: list[str]) -> int:
    from pipeline.config import load_config
    from pipeline.run import format_summary, run

    cfg = load_config(args.config)
    if args.runner:
        beam_args = [f"--runner={args.runner}", *beam_args]
    if args.profile:
        from pipeline import profiles

        beam_args = profiles.apply(args.profile, beam_args)
    import signal

    # A terminated run cleans up its staging and lock like a failed one (SIGKILL leaves them to the next run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        result = run(cfg, args.input, args.output, beam_args, overwrite=args.overwrite)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the run itself is exit 1
        logging.getLogger("pipeline.run").debug("run failed", exc_info=True)
        from pipeline.trajectories.teachers import TeacherError

        exc = TeacherError.from_run_failure(exc) or exc  # a worker process's teacher error: its one line
        print(f"curate: run failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return EXIT_FAILURE
    print(format_summary(result))
    return EXIT_OK


def cmd_audit(args) -> int:
    from pipeline import audit

    queries = audit.canned_queries()
    if args.list:
        for name, path in queries.items():
            first = path.read_text(encoding="utf-8").splitlines()[0].lstrip("- ")
            print(f"{name:<20} {first}")
        return EXIT_OK
    if args.query:
        if args.query not in queries:
            raise ConfigError(f"unknown query '{args.query}' (known: {', '.join(queries)})")
        sql = queries[args.query].read_text(encoding="utf-8")
    elif args.sql:
        sql = args.sql
    else:
        raise ConfigError("audit needs SQL or --query NAME")
    columns, rows = audit.query(args.out, sql)
    print(audit.render(columns, rows, args.format))
    return EXIT_OK


def cmd_verify(args) -> int:
    from pipeline.io.manifest import SIGNING_KEY_ENV, signing_key, verify

    try:
        problems = verify(args.out)
    except Exception as exc:  # noqa: BLE001 - a hostile OUT gets one line, never a traceback
        problems = [f"{args.out}: cannot be verified ({type(exc).__name__})"]
    if problems:
        for problem in problems:
            print(f"curate verify: {problem}", file=sys.stderr)
        return EXIT_FAILURE
    signed = "signature OK" if signing_key() else f"signature not checked: ${SIGNING_KEY_ENV} is not set"
    print(f"curate verify: {args.out} OK ({signed})")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _setup_logging(getattr(args, "quiet", False))
    try:
        if args.command == "run":
            return cmd_run(args, extra)
        if args.command == "audit":
            return cmd_audit(args)
        return cmd_verify(args)
    except ConfigError as exc:
        print(f"curate: {exc}", file=sys.stderr)
        return EXIT_USAGE


def console_main() -> None:
    """The ``curate`` console script and ``python -m pipeline``: :func:`main`, then leave without the
    interpreter's teardown (``runtime.exit_now``), which with Beam imported is a noticeable part of a
    small run (docs/benchmarks.md)."""
    from pipeline.runtime import exit_now

    exit_now(main())


if __name__ == "__main__":
    console_main()
