"""A private PostgreSQL cluster under ``.infra/``, FerretDB's backend on local runs.

Debian's ``postgresql`` is installed on first use (like Chromium and
Prometheus); its binaries live in ``/usr/lib/postgresql/<version>/bin``, off
the PATH. The cluster is ours alone: data in ``.infra/postgres/data``,
listening on 127.0.0.1 at its own port (``FAILSTREAM_INFRA_POSTGRES_PORT``)
and no Unix socket, one role with a generated password (scram-sha-256), so
another local user can reach neither the files nor a superuser session.

PostgreSQL refuses to run as root. Run by root, the cluster belongs to the
``postgres`` system account that Debian's package creates, and the server
is exec'd under it with ``setpriv`` (no intermediate process, so the pid we
record is the postmaster's); run by anyone else, it is theirs.

Each FerretDB gets a database of its own in the one cluster: the shared
server ``ferretdb``, a test's throwaway server one named after its data
directory (:func:`database_for`), dropped once that directory is gone.

FerretDB 1.24 pushes an equality filter down as ``_jsonb->$1 @> $2``, which
its own btree indexes (``(_jsonb->'field')``) cannot serve: every pushed-down
lookup was a full scan. :data:`CONTAINMENT_INDEXES` gives every btree index
FerretDB makes a GIN twin on its leading field, which serves exactly that
operator once the planner sees the field name, so FerretDB's sessions plan
each statement with its parameters (``plan_cache_mode=force_custom_plan``
in :func:`ferretdb_url`).

A GIN index first appends new entries to a pending list that every lookup
reads whole, until a vacuum or an insert that finds the list past
``gin_pending_list_limit`` (4 MB by default) merges it. After a burst of
failures every pushed-down lookup on ``failures`` would read tens of
thousands of pending entries; the twins keep :data:`PENDING_LIST_KB`.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from failstream.infra import debian
from failstream.infra.process import INFRA_DIR, InfraError, ManagedProcess, say
from failstream.private_files import private_dir, write_private
from failstream.settings import Settings

HOME = INFRA_DIR / "postgres"  # owned by the cluster's account, 0700
DATA = HOME / "data"
#: The superuser's password, readable by whoever runs Failstream (FerretDB and psql need it).
PASSWORD_FILE = INFRA_DIR / "secrets" / "postgres-password"
ROLE = "failstream"
SHARED_DATABASE = "ferretdb"
THROWAWAY_PREFIX = "fs_"
#: Fast shutdown (SIGINT) to the postmaster alone: SIGTERM would wait for every client to leave.
POSTGRES = ManagedProcess("postgres", stop_signal=signal.SIGINT, signal_group=False)
#: Room for the shared FerretDB's pool and several test servers' pools at once; a
#: pool opens connections only as it needs them and closes them after a minute idle.
MAX_CONNECTIONS = 500
SYSTEM_ACCOUNT = "postgres"

#: The GIN twins' pending list (kB, PostgreSQL's least): what a lookup reads beyond the index.
PENDING_LIST_KB = 64
#: Run in each FerretDB database: an event trigger that adds a GIN twin to each btree
#: index FerretDB creates from then on, and the twins of the indexes made before it
#: (an existing twin gets the pending list's bound it may lack).
CONTAINMENT_INDEXES = rf"""
CREATE OR REPLACE FUNCTION failstream_containment_twin(btree oid) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  lead text := pg_get_indexdef(btree, 1, false);
  made record;
  twin text;
BEGIN
  SELECT c.relname, i.indrelid::regclass AS tbl, a.amname, n.nspname INTO made
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE i.indexrelid = btree;
  -- only FerretDB's top-level fields: nested ones are never pushed down
  IF made.amname <> 'btree' OR lead !~ '^\(+_jsonb -> ''[^'']+''::text\)+$' THEN
    RETURN;
  END IF;
  twin := left(made.relname, 59) || '_gin';
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s USING gin (%s jsonb_path_ops)'
                 ' WITH (gin_pending_list_limit = {PENDING_LIST_KB})', twin, made.tbl, lead);
  -- a twin made before the bound: set it (a lock on the index, so only when missing)
  IF NOT coalesce((SELECT c.reloptions @> ARRAY['gin_pending_list_limit={PENDING_LIST_KB}'] FROM pg_class c
                   WHERE c.oid = to_regclass(format('%I.%I', made.nspname, twin))), false) THEN
    EXECUTE format('ALTER INDEX %I.%I SET (gin_pending_list_limit = {PENDING_LIST_KB})', made.nspname, twin);
  END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION failstream_containment_trigger() RETURNS event_trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  made record;
BEGIN
  FOR made IN SELECT objid FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE INDEX' LOOP
    PERFORM failstream_containment_twin(made.objid);
  END LOOP;
END
$fn$;

DO $do$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'failstream_containment') THEN
    CREATE EVENT TRIGGER failstream_containment ON ddl_command_end
      WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION failstream_containment_trigger();
  END IF;
END
$do$;

SELECT count(failstream_containment_twin(i.indexrelid))
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast');
"""


@dataclass(frozen=True)
class Binaries:
    """The cluster tools of one installed PostgreSQL major version."""

    bin_dir: Path

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)


def _installed() -> Binaries | None:
    """The newest major version's ``bin`` (Debian's layout), or one on the PATH."""
    versions = sorted(
        (p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/postgres")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return Binaries(versions[-1])
    found = shutil.which("postgres")
    return Binaries(Path(found).resolve().parent) if found else None


def ensure_binaries() -> Binaries:
    found = _installed()
    if found is None:
        debian.install("postgresql", why="FerretDB's PostgreSQL backend")
        found = _installed()
    if found is None or not Path(found.tool("psql")).is_file():
        raise InfraError("Debian's postgresql was installed but its binaries were not found")
    return found


def _run_as() -> tuple[list[str], int | None, int | None]:
    """The prefix that runs a command as the cluster's account, and that account's uid/gid.

    ``setpriv`` execs the command itself (``runuser`` and ``sudo`` stay as its
    parent), so a managed process's recorded pid is the server's own.
    """
    if os.geteuid() != 0:
        return [], None, None
    try:
        account = pwd.getpwnam(SYSTEM_ACCOUNT)
    except KeyError as exc:
        raise InfraError(
            f"running as root, PostgreSQL needs an unprivileged account; '{SYSTEM_ACCOUNT}' "
            "(created by Debian's postgresql package) is missing"
        ) from exc
    prefix = [
        "setpriv",
        f"--reuid={account.pw_uid}",
        f"--regid={account.pw_gid}",
        "--init-groups",
        "--",
    ]
    return prefix, account.pw_uid, account.pw_gid


def _password() -> str:
    """The role's password, made once; of two racing first starts, the first link wins."""
    if not PASSWORD_FILE.is_file():
        private_dir(PASSWORD_FILE.parent)
        draft = PASSWORD_FILE.with_name(f"{PASSWORD_FILE.name}.{os.getpid()}")
        write_private(draft, secrets.token_urlsafe(24).encode())
        try:
            os.link(draft, PASSWORD_FILE)  # atomic: no reader ever sees a half-written file
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return PASSWORD_FILE.read_text().strip()


def _initdb(binaries: Binaries, prefix: Sequence[str], uid: int | None, gid: int | None) -> None:
    """A new cluster in ``DATA``: our role, scram passwords, UTF-8 with the C locale."""
    private_dir(HOME)
    if uid is not None and gid is not None:
        os.chown(HOME, uid, gid)
    password = _password()
    # initdb reads the password from a file it can open as the cluster's account
    pwfile = HOME / "initdb-password"
    write_private(pwfile, password.encode())
    if uid is not None and gid is not None:
        os.chown(pwfile, uid, gid)
    say("creating the PostgreSQL cluster for FerretDB in .infra/postgres (first start only)")
    try:
        result = subprocess.run(
            [
                *prefix,
                binaries.tool("initdb"),
                "-D",
                str(DATA),
                "-U",
                ROLE,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ],
            cwd=HOME,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        shutil.rmtree(DATA, ignore_errors=True)  # a half-made cluster would fail every later start
        raise InfraError(f"initdb failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")


def command(binaries: Binaries, prefix: Sequence[str], port: int) -> list[str]:
    """The server's argv: loopback TCP only (no Unix socket), our port, room for the pools."""
    return [
        *prefix,
        binaries.tool("postgres"),
        "-D",
        str(DATA),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"port={port}",
        "-c",
        "unix_socket_directories=",
        "-c",
        f"max_connections={MAX_CONNECTIONS}",
    ]


def _psql(binaries: Binaries, port: int, sql: str, *, database: str = "postgres") -> str:
    result = subprocess.run(
        [
            binaries.tool("psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            ROLE,
            "-d",
            database,
            "-c",
            sql,
        ],
        env={**os.environ, "PGPASSWORD": _password(), "PGCONNECT_TIMEOUT": "2"},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise InfraError(f"psql on 127.0.0.1:{port} failed: {result.stderr.strip()}")
    return result.stdout


def _answers(binaries: Binaries, port: int) -> bool:
    try:
        return _psql(binaries, port, "select 1").strip() == "1"
    except InfraError:
        return False


def up(settings: Settings, *, process: ManagedProcess = POSTGRES) -> str:
    """Start the cluster unless it answers; create it on first use."""
    port = settings.infra_postgres_port
    binaries = ensure_binaries()
    if process.pid() is None and _answers(binaries, port):
        return f"postgresql already answering on 127.0.0.1:{port}"
    if process.pid() is None:
        prefix, uid, gid = _run_as()
        if not (DATA / "PG_VERSION").is_file():
            _initdb(binaries, prefix, uid, gid)
        say(f"starting PostgreSQL on 127.0.0.1:{port}")
        process.start(command(binaries, prefix, port), cwd=HOME)
    process.wait_ready(lambda: _answers(binaries, port), timeout_s=60)
    return f"postgresql up on 127.0.0.1:{port} (pid {process.pid()})"


def database_for(data_dir: Path | None) -> str:
    """The database of one FerretDB: the shared one, or one per throwaway data directory."""
    if data_dir is None:
        return SHARED_DATABASE
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return f"{THROWAWAY_PREFIX}{digest}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ensure_database(settings: Settings, data_dir: Path | None) -> str:
    """Create the FerretDB's database if missing; drop throwaway ones whose directory is gone.

    A throwaway database records its data directory as its comment: a test's
    temporary directory outlives the test by a few sessions (pytest keeps the
    last three), and its database goes with it, not before.
    """
    binaries = ensure_binaries()
    port = settings.infra_postgres_port
    name = database_for(data_dir)
    listed = _psql(
        binaries,
        port,
        "select d.datname, coalesce(shobj_description(d.oid, 'pg_database'), '') from pg_database d",
    )
    existing = dict(line.split("|", 1) for line in listed.splitlines() if "|" in line)
    for stale, where in existing.items():
        if stale.startswith(THROWAWAY_PREFIX) and stale != name and where and not Path(where).exists():
            try:
                _psql(binaries, port, f'drop database if exists "{stale}"')
            except InfraError:
                pass  # still in use (its server not yet stopped): the next start drops it
    if name not in existing:
        try:
            _psql(binaries, port, f'create database "{name}"')
        except InfraError:
            if name not in _psql(binaries, port, "select datname from pg_database").split():
                raise
        if data_dir is not None:
            _psql(binaries, port, f'comment on database "{name}" is {_literal(str(data_dir.resolve()))}')
    _psql(binaries, port, CONTAINMENT_INDEXES, database=name)
    return name


def ferretdb_url(settings: Settings, database: str) -> str:
    """FerretDB's ``postgres://`` URL: the pool bounded, idle connections closed after a minute,
    and custom plans only (a generic plan of ``_jsonb->$1 @> $2`` cannot use the GIN twins)."""
    return (
        f"postgres://{ROLE}:{quote(_password(), safe='')}@127.0.0.1:{settings.infra_postgres_port}/{database}"
        f"?pool_max_conns={settings.infra_ferretdb_pool_size}&pool_max_conn_idle_time=1m"
        "&plan_cache_mode=force_custom_plan"
    )
