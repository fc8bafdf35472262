"""`curate run | audit | verify | report`: argument parsing and exit codes only.

Exit codes: 0 success; 2 usage or config error (one line naming the bad option, key or file); 1 run
failure (and a failed run never leaves a manifest.json), or ``--fail-on-empty`` with nothing kept;
130 interrupted (Ctrl-C). Failures end with one line on stderr, never a traceback (``--log-level
debug`` logs it).
"""
from __future__ import annotations

import argparse
import difflib
import errno
import logging
import sys

from pipeline.config import ConfigError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
THREAD_ERROR_GRACE_SECONDS = 1.0  # how long a failing thread waits to learn whether Ctrl-C caused it
LOG_LEVELS = ("debug", "info", "warning", "error")
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's usage errors exit 2 with one line, like ours
        self.exit(EXIT_USAGE, f"curate: {message}\n")


def version_text() -> str:
    """``curate --version``: the package, Apache Beam and Python versions (read without importing Beam)."""
    import platform
    from importlib import metadata

    from pipeline import __version__

    try:
        beam = metadata.version("apache-beam")
    except metadata.PackageNotFoundError:
        beam = "not installed"
    return f"curate {__version__} (curation-pipeline; Apache Beam {beam}; Python {platform.python_version()})"


class _VersionAction(argparse.Action):
    """``--version``: the text is looked up only when asked for (the package metadata scan is slow)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show program's version number and exit"):  # argparse's own wording
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stdout.write(version_text() + "\n")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="curate", description="Curate LLM training data: compliance, dedup, provenance.")
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser(
        "run",
        help="run the pipeline",
        description="Run the curation pipeline. Other --options must be Apache Beam pipeline options "
                    "(checked before the run starts; an unknown one exits 2).",
    )
    run.add_argument("--input", action="append", required=True, metavar="URI", help="file, folder, glob, gs:// or s3:// (repeatable)")
    run.add_argument("--output", required=True, metavar="OUT", help="output folder (must be empty unless --overwrite)")
    run.add_argument("--config", metavar="FILE.yaml", help="YAML config; omitted: the embedded defaults")
    run.add_argument("--runner", metavar="NAME", help="Beam runner (default DirectRunner, offline)")
    run.add_argument("--profile", metavar="NAME|FILE.yaml", help="runner profile: a named set of Beam options (pipeline/profiles/); command-line options win")
    run.add_argument("--overwrite", action="store_true",
                     help="replace an earlier curate output in OUT (kept readable until the new run commits)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                     help="override one config key over --config, e.g. dedup.threshold=0.7 (value read as YAML; repeatable)")
    run.add_argument("--dedup-against", action="append", default=[], metavar="OUT_OLD",
                     help="an earlier release (its OUT folder) to deduplicate against: dedup.against += OUT_OLD/signatures (repeatable)")
    run.add_argument("--fail-on-empty", action="store_true",
                     help="exit 1 when records were read but none was kept (the run is still committed)")
    run.add_argument("--quiet", action="store_true", help="no progress logging (same as --log-level warning)")
    run.add_argument("--log-level", choices=LOG_LEVELS, type=str.lower, metavar="LEVEL",
                     help=f"pipeline log level: {', '.join(LOG_LEVELS)} (default info)")
    run.add_argument("--log-file", metavar="FILE", help="also append the log lines to FILE (not inside --output or an --input)")

    audit = sub.add_parser("audit", help="query a run's output with DuckDB")
    audit.add_argument("out", metavar="OUT")
    audit.add_argument("sql", nargs="?", help='SQL over the views documents, decisions, quarantine, trajectories, signatures, manifest')
    audit.add_argument("--query", metavar="NAME", help="run manifests/queries/NAME.sql")
    audit.add_argument("--list", action="store_true", help="list the canned queries")
    audit.add_argument("--format", choices=["table", "csv", "json"], default="table")

    verify = sub.add_parser("verify", help="check OUT against its manifest (hashes, row counts, extra files)")
    verify.add_argument("out", metavar="OUT")
    verify.add_argument("--version", type=int, metavar="N", dest="manifest_version",
                        help="check an earlier version's files where they still exist, naming the ones removed since")

    report = sub.add_parser("report", help="write a release's data card (HTML with charts, or Markdown)",
                            description="Counts and labels of a verified release, never document text (docs/report.md).")
    report.add_argument("out", metavar="OUT")
    report.add_argument("-o", "--output", metavar="FILE",
                        help="where to write (default: OUT/report.html, listed in the manifest; Markdown: stdout)")
    report.add_argument("--format", choices=["html", "md"], default="html")
    _add_forget_and_log(sub)
    return parser


def _add_forget_and_log(sub) -> None:
    forget = sub.add_parser("forget", help="erase documents (and what derives from them) from a release, as a new version",
                            description="Erase documents from OUT: their documents rows, signatures, quarantine rows and "
                                        "derived trajectory samples; their decisions rows keep their audit columns without content.")
    forget.add_argument("out", metavar="OUT")
    which = forget.add_mutually_exclusive_group(required=True)
    which.add_argument("--doc-id", nargs="+", action="extend", metavar="ID", help="doc_id values (repeatable)")
    which.add_argument("--source-id", nargs="+", action="extend", metavar="ID", help="the inputs' own id values (repeatable)")
    which.add_argument("--url-pattern", metavar="GLOB", help="documents whose url matches the glob, e.g. 'https://example.org/*'")
    which.add_argument("--where", metavar="SQL", help="a DuckDB boolean expression over the documents view")
    forget.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded in the manifest; no personal data)")
    forget.add_argument("--dry-run", action="store_true", help="list what would go (counts, hashed ids) and change nothing")

    log = sub.add_parser("log", help="list OUT's manifest versions (runs and erasures)")
    log.add_argument("out", metavar="OUT")
    log.add_argument("--format", choices=["table", "json"], default="table")


def _setup_logging(quiet: bool, level: str | None = None, log_file: str | None = None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    logging.basicConfig(level=logging.WARNING, format=_LOG_FORMAT, datefmt="%H:%M:%S", handlers=handlers)
    name = level or ("warning" if quiet else "info")
    logging.getLogger("pipeline").setLevel(getattr(logging, name.upper()))
    for noisy in ("presidio-analyzer", "presidio-anonymizer", "trafilatura", "htmldate", "root"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    # Beam logs a failed bundle with its traceback; a failed run ends with our one line instead
    # (the traceback is logged at --log-level debug).
    logging.getLogger("apache_beam").setLevel(logging.ERROR if name == "debug" else logging.CRITICAL)
    if name == "debug":  # local worker processes keep their stderr (pipeline/beam_worker.py)
        import os

        os.environ.setdefault("CURATE_WORKER_STDERR", "1")


def parse_overrides(items: list[str]) -> dict:
    """``--set a.b=VALUE`` items → a nested dict for ``load_config(overrides=...)``; each VALUE is
    read as YAML (``0.7`` a number, ``false`` a boolean, ``[en, ko]`` a list)."""
    import yaml

    overrides: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. dedup.threshold=0.7")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"--set {key}: the value is not valid YAML") from None
        node = overrides
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: '{'.'.join(parts[:depth + 1])}' is also set to a value")
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise ConfigError(f"--set {key}: also set key by key")
        node[parts[-1]] = value
    return overrides


def _nearest(name: str, candidates: list[str]) -> str:
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def check_beam_args(beam_args: list[str], ours: list[str]) -> None:
    """Usage error (exit 2) for an option neither curate nor Beam (nor the chosen runner) knows,
    naming it and the nearest valid one, and for a value Beam refuses, in one line."""
    from pipeline.runners import JOB_SERVICE_RUNNERS, BeamOptionError, unknown_beam_args

    try:
        unknown, beam_names = unknown_beam_args(beam_args)
    except BeamOptionError as exc:
        raise ConfigError(str(exc)) from None
    if not unknown:
        return
    flags = [arg.split("=", 1)[0] for arg in unknown if arg.startswith("-")]
    if not flags:
        raise ConfigError(f"unrecognized argument: {unknown[0]}")
    runner = next((a.split("=", 1)[1] for a in reversed(beam_args) if a.startswith("--runner=")), None)
    if runner in JOB_SERVICE_RUNNERS:  # its job service may define more options: Beam passes them on
        logging.getLogger("pipeline.cli").warning(
            "options not known to Beam, passed to the %s job service unchecked: %s", runner, " ".join(flags))
        return
    raise ConfigError(f"unrecognized option {flags[0]}{_nearest(flags[0], sorted(set(ours) | set(beam_names)))}")


def _check_log_file(log_file: str | None, out: str | None, inputs: list[str]) -> None:
    """The log is appended to: never inside OUT (the release holds only curate's files) nor an input."""
    if not log_file:
        return
    import os

    from pipeline.io.outdir import _root_of, _within, is_remote  # pyarrow: not before the local workers start

    path = os.path.realpath(log_file)
    if os.path.isdir(path):
        raise ConfigError(f"--log-file {log_file}: is a folder")
    if out and not is_remote(out) and _within(path, os.path.realpath(out)):
        raise ConfigError(f"--log-file {log_file}: is inside --output (the release holds only curate's files)")
    for given in inputs:
        if not is_remote(given) and _within(path, _root_of(given)):
            raise ConfigError(f"--log-file {log_file}: is inside the input {given}")
    if not os.path.isdir(os.path.dirname(path) or "."):
        raise ConfigError(f"--log-file {log_file}: folder not found")


def _local_paths_only(args, cfg, beam_args: list[str]) -> bool:
    """True when the run is on the local DirectRunner and no path given, config value or Beam option
    names gs://: Beam's GCP client libraries can then stay unimported (``beam_import.GCP_CLIENTS``).
    ``cfg`` None: the paths and options only (before the config is loaded)."""
    from pipeline.beam_import import is_local_runner, mentions_gcs

    runners = [a.split("=", 1)[1] for a in beam_args if a.startswith("--runner=")]
    runners += [b for a, b in zip(beam_args, beam_args[1:]) if a == "--runner"]
    if not all(is_local_runner(r) for r in runners):
        return False  # another runner (Dataflow above all) may need them on the launcher
    return not mentions_gcs([*args.input, args.output, *(args.dedup_against or []), repr(cfg), *beam_args])


def cmd_run(args, beam_args: list[str], ours: list[str]) -> int:
    warm: list = []  # the local worker processes started early (pipeline/warm_workers.py)
    try:
        return _cmd_run(args, beam_args, ours, warm)
    finally:
        for pool in warm:
            pool.close()


def interrupt_handler(interrupted):
    """Ctrl-C's handler for a run: sets ``interrupted`` and raises KeyboardInterrupt (held while the
    main thread hands work to a helper thread: :func:`pipeline.runtime.interrupts_held`)."""
    from pipeline.runtime import interrupt

    def on_interrupt(*_):
        # Beam wraps whatever a bundle raises (KeyboardInterrupt too) and logs it with its traceback:
        # remember the interrupt and silence Beam, so the run ends with one line however it unwinds.
        interrupted.set()
        logging.getLogger("apache_beam").setLevel(logging.CRITICAL + 1)
        interrupt(KeyboardInterrupt())

    return on_interrupt


def _cmd_run(args, beam_args: list[str], ours: list[str], warm: list) -> int:
    from pipeline.config import load_config

    if args.runner:
        beam_args = [f"--runner={args.runner}", *beam_args]
    if args.profile:
        from pipeline import profiles

        beam_args = profiles.apply(args.profile, beam_args)
    import os

    from pipeline import warm_workers
    from pipeline.beam_import import LOCAL_ONLY_ENV, import_beam

    # The local workers' processes start first, so that their imports overlap with loading the
    # config (which imports the stages' declarations); what depends on the config follows them.
    local_only = _local_paths_only(args, None, beam_args)
    os.environ[LOCAL_ONLY_ENV] = "1" if local_only else "0"  # for local worker processes
    pool = warm_workers.start(warm_workers.local_worker_count(beam_args), warm_workers.warm_modules(), more_to_come=True)
    if pool is not None:
        warm.append(pool)
    cfg = load_config(args.config, parse_overrides(args.overrides))
    if local_only and not _local_paths_only(args, cfg, beam_args):
        # the config names gs://: workers need Beam's GCP clients, which the warm ones left out
        local_only = False
        os.environ[LOCAL_ONLY_ENV] = "0"
        for started in warm:
            started.close()
        warm.clear()
    for started in warm:
        started.import_also(warm_workers.pii_modules() if cfg.pii.enabled else [])
    import_beam(local_only)  # before pipeline.run's Beam imports: the lighter import
    from pipeline.run import empty_run_warning, format_summary, run  # Beam: only once the config is valid

    if args.dedup_against:
        from pipeline.io.manifest import checked_release_signatures
        from pipeline.io.outdir import is_remote

        if not cfg.dedup.enabled:
            raise ConfigError("--dedup-against: dedup is off in this config (dedup.enabled: false)")
        olds = [o if is_remote(o) else os.path.abspath(o) for o in args.dedup_against]
        cfg.dedup.against = [*cfg.dedup.against, *(checked_release_signatures(o) for o in olds)]
    check_beam_args(beam_args, ours)
    import signal
    import threading

    # A terminated run cleans up its staging and lock like a failed one (SIGKILL leaves them to the next run).
    from pipeline.runtime import clear_terminated, terminate

    clear_terminated()
    signal.signal(signal.SIGTERM, lambda *_: terminate(signal.SIGTERM))
    interrupted = threading.Event()
    thread_hook = threading.excepthook

    on_interrupt = interrupt_handler(interrupted)

    def on_thread_exception(hook_args):
        # A terminal's Ctrl-C also stops local worker processes, and Beam's threads watching them
        # raise in turn — sometimes before this process's own handler has run. Such a thread waits
        # a moment for the interrupt to register: consequences of the interrupt are not news.
        if interrupted.wait(THREAD_ERROR_GRACE_SECONDS):
            return
        thread_hook(hook_args)

    threading.excepthook = on_thread_exception
    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        result = run(cfg, args.input, args.output, beam_args, overwrite=args.overwrite)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the run itself is exit 1
        if interrupted.is_set():
            raise KeyboardInterrupt from None
        logging.getLogger("pipeline.run").debug("run failed", exc_info=True)
        from pipeline.trajectories.teachers import TeacherError

        exc = TeacherError.from_run_failure(exc) or exc  # a worker process's teacher error: its one line
        print(f"curate: run failed: {_failure_text(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        signal.signal(signal.SIGINT, previous)  # main() may be called in-process (tests, orchestrators)
        if not interrupted.is_set():  # after an interrupt, Beam's threads may still be unwinding
            threading.excepthook = thread_hook
    _print_stdout(format_summary(result))
    warning = empty_run_warning(result.summary)
    if warning:
        print(f"curate: warning: {warning}", file=sys.stderr)
        if args.fail_on_empty:
            return EXIT_FAILURE
    return EXIT_OK


def _resource_failure(exc: BaseException) -> str | None:
    """Out of memory or disk, wherever it was raised (Beam wraps a worker's exception in its own)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, MemoryError):
            return "out of memory (MemoryError)"
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"no space left on the device (OSError errno {errno.errorcode[exc.errno]})"
        exc = exc.__cause__ or exc.__context__
    return None


def _failure_text(exc: BaseException) -> str:
    resource = _resource_failure(exc)
    if resource:
        return resource
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _print_stdout(text: str) -> None:
    """Print to stdout; a reader that went away (``curate ... | head -1``) is not a failure."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        import os

        # Python would report the broken pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


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
    _print_stdout(audit.render(columns, rows, args.format))
    return EXIT_OK


def cmd_forget(args) -> int:
    from pipeline import erasure

    for kind in erasure.SELECTORS:
        value = getattr(args, kind.replace("-", "_"))
        if value:
            selector = erasure.Selector(kind, list(value) if isinstance(value, list) else [value])
    try:
        result = erasure.forget(args.out, selector, args.reason, dry_run=args.dry_run)
    except erasure.NothingMatched as exc:
        print(f"curate forget: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - an I/O failure mid-erasure: the previous version stands
        logging.getLogger("pipeline.erasure").debug("forget failed", exc_info=True)
        print(f"curate forget: failed, {args.out} is unchanged: {type(exc).__name__}", file=sys.stderr)
        return EXIT_FAILURE
    _print_stdout(erasure.format_result(result))
    return EXIT_OK


def cmd_log(args) -> int:
    import json

    from pipeline.beam_import import import_beam

    import_beam()
    from apache_beam.io.filesystems import FileSystems

    from pipeline.io import versions

    if versions.parse(versions.read_bytes(FileSystems.join(args.out, "manifest.json"))) is None:
        raise ConfigError(f"{args.out}: no readable manifest.json (not a curate release)")
    entries = [versions.log_entry(m) for m in versions.history(args.out)]
    _print_stdout(json.dumps(entries, indent=1) if args.format == "json" else versions.format_log(entries))
    return EXIT_OK


def cmd_verify(args) -> int:
    from pipeline.beam_import import pyarrow_without_pandas
    from pipeline.io.manifest import SIGNING_KEY_ENV, signing_key, verify

    pyarrow_without_pandas()

    try:
        if args.manifest_version is not None:
            from pipeline.io.versions import verify_version

            problems = verify_version(args.out, args.manifest_version)
        else:
            problems = verify(args.out)
    except Exception as exc:  # noqa: BLE001 - a hostile OUT gets one line, never a traceback
        problems = [f"{args.out}: cannot be verified ({type(exc).__name__})"]
    if problems:
        for problem in problems:
            print(f"curate verify: {problem}", file=sys.stderr)
        return EXIT_FAILURE
    if args.manifest_version is not None:
        print(f"curate verify: {args.out} version {args.manifest_version} OK (every file it lists is present and unchanged)")
        return EXIT_OK
    signed = "signature OK" if signing_key() else f"signature not checked: ${SIGNING_KEY_ENV} is not set"
    print(f"curate verify: {args.out} OK ({signed})")
    return EXIT_OK


def cmd_report(args) -> int:
    from pipeline.report import report

    written, text = report(args.out, args.output, args.format)
    if written is None:
        _print_stdout(text)
    else:
        print(f"curate report: wrote {written}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        _check_log_file(getattr(args, "log_file", None), getattr(args, "output", None), getattr(args, "input", None) or [])
        _setup_logging(getattr(args, "quiet", False), getattr(args, "log_level", None), getattr(args, "log_file", None))
        if args.command == "run":
            return cmd_run(args, extra, _option_names(parser, "run"))
        if args.command == "audit":
            return cmd_audit(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command in ("forget", "log"):
            return cmd_forget(args) if args.command == "forget" else cmd_log(args)
        return cmd_verify(args)
    except ConfigError as exc:
        print(f"curate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # run() has removed its staging and lock on the way out
        print("curate: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BaseException as exc:  # noqa: BLE001 - out of memory or disk outside the run itself
        resource = _resource_failure(exc)
        if resource is None:
            raise
        print(f"curate: {resource}", file=sys.stderr)
        return EXIT_FAILURE


def _option_names(parser: argparse.ArgumentParser, command: str) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    return [s for s in sub.choices[command]._option_string_actions if s.startswith("--")]  # noqa: SLF001


def console_main() -> None:
    """The ``curate`` console script and ``python -m pipeline``: :func:`main`, then leave without the
    interpreter's teardown (``runtime.exit_now``), which with Beam imported is a noticeable part of a
    small run (docs/benchmarks.md)."""
    from pipeline.runtime import exit_now

    exit_now(main())


if __name__ == "__main__":
    console_main()
