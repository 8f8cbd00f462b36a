# SPDX-License-Identifier: MIT
# PostgreSQL inside a container, for the tests (clients.bats, restart.bats)
# and the benchmark (tests/bench/pgbench.sh): sourced by the container's
# script from the directory it runs from, where they copy this file.
# POSIX sh.

# pg CMD...: CMD as user postgres (setpriv when the container runs as root).
pg() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid=postgres --regid=postgres --init-groups "$@"
	else
		"$@"
	fi
}

# pg_cluster BIN DIR [CONF...]: a cluster in DIR/data (initdb's output in
# DIR/initdb.log, shown when it fails) whose main and dynamic shared memory
# are System V segments, its socket in DIR, nothing made durable (a test
# cluster); CONF lines are added to its postgresql.conf.
pg_cluster() {
	_bin=$1 _dir=$2
	shift 2
	pg "$_bin/initdb" -D "$_dir/data" -U postgres --auth=trust --no-sync --no-instructions -E UTF8 --locale=C \
		>"$_dir/initdb.log" 2>&1 || {
		cat "$_dir/initdb.log"
		return 1
	}
	{
		echo "shared_memory_type = sysv"
		echo "dynamic_shared_memory_type = sysv"
		echo "unix_socket_directories = '$_dir'"
		echo "listen_addresses = ''"
		echo "fsync = off"
		echo "synchronous_commit = off"
		echo "full_page_writes = off"
		echo "log_line_prefix = '%m [%p] %b '"
		for _l in "$@"; do
			echo "$_l"
		done
	} >>"$_dir/data/postgresql.conf"
}

# pg_parallel_sql SQL: SQL run with parallel workers whenever the planner
# can (each query's workers attach a dynamic shared memory segment).
pg_parallel_sql() {
	cat <<SQL
set max_parallel_workers_per_gather = 2;
set parallel_setup_cost = 0;
set parallel_tuple_cost = 0;
set min_parallel_table_scan_size = 0;
$1
SQL
}
