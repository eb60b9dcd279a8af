package dev.tollgate.escrow.db;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * The embedded database (SQLite, one file in the data directory) that holds the ledger and the settlement
 * journal. One connection, used by one thread at a time: callers run work inside {@link #transaction}, which
 * serializes them (SQLite has a single writer anyway) and commits or rolls back as a unit.
 *
 * <p>Durability ({@link Durability}): WAL journal; with {@link Durability#PROCESS} ({@code synchronous=NORMAL}, the
 * default) a committed transaction survives the death of the process (SIGKILL, OOM kill, crash) without an fsync
 * per commit; with {@link Durability#POWER} ({@code synchronous=FULL}) it also survives a power cut, at the cost of
 * an fsync per commit. Batching many records per transaction (group commit) amortizes either.
 *
 * <p>Statements are compiled once and reused ({@link StatementCache}).
 *
 * <p>Threading: thread-safe; transactions are mutually exclusive.
 */
public final class Database implements AutoCloseable {
    private final Connection connection;
    private final StatementCache statements;
    private volatile long commits;
    private WalCheckpointer checkpointer;
    private final java.util.List<Runnable> afterCommit = new java.util.ArrayList<>();
    private final java.util.List<Runnable> afterRollback = new java.util.ArrayList<>();
    private final java.util.List<Work<?>> beforeCommit = new java.util.ArrayList<>();
    private final java.util.concurrent.ConcurrentHashMap<Class<?>, Object> shared =
            new java.util.concurrent.ConcurrentHashMap<>();
    private long serial;
    private volatile Runnable readBarrier = () -> { };
    private volatile dev.tollgate.metering.NonBlockingThreads guard = dev.tollgate.metering.NonBlockingThreads.none();

    /** How much a committed transaction survives. */
    public enum Durability {
        /** The death of the process: WAL with {@code synchronous=NORMAL}, no fsync per commit. */
        PROCESS,
        /** A power cut as well: WAL with {@code synchronous=FULL}, an fsync per commit. */
        POWER
    }

    /** Work done inside a transaction. */
    @FunctionalInterface
    public interface Work<T> {
        T run(Connection c) throws SQLException;
    }

    private Database(Connection connection) {
        this.connection = connection;
        this.statements = new StatementCache(connection);
    }

    /** Opens (or creates) the database in {@code dir}, durable against process death. */
    public static Database open(Path dir) {
        return open(dir, Durability.PROCESS);
    }

    public static Database open(Path dir, Durability durability) {
        try {
            Files.createDirectories(dir);
            java.util.Properties props = new java.util.Properties();
            // The driver would otherwise run an extra query (and a regex over the SQL) after every INSERT to
            // fetch generated keys, which Tollgate never reads: most of the ledger's CPU per request.
            props.setProperty("jdbc.get_generated_keys", "false");
            Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("tollgate.db"), props);
            try (Statement s = c.createStatement()) {
                s.execute("PRAGMA journal_mode=WAL");
                s.execute(durability == Durability.POWER ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
                s.execute("PRAGMA busy_timeout=5000");
                s.execute("PRAGMA foreign_keys=ON");
                // Checkpoints run beside the writer (WalCheckpointer), never inside one of its commits.
                s.execute("PRAGMA wal_autocheckpoint=0");
            }
            c.setAutoCommit(false);
            Database db = new Database(c);
            db.transaction(Schema::create);
            db.checkpointer = new WalCheckpointer(dir.resolve("tollgate.db"),
                    durability == Durability.POWER ? "FULL" : "NORMAL");
            return db;
        } catch (SQLException | java.io.IOException e) {
            throw new IllegalStateException("cannot open the database in " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Counts every transaction started on one of {@code threads} (the proxy's event loops): a transaction waits for
     * the lock, the disk and other transactions, so it must never run where connections are served.
     */
    public void guard(dev.tollgate.metering.NonBlockingThreads threads) {
        this.guard = threads;
    }

    /** Runs {@code work} in one transaction; any exception rolls everything back. */
    public <T> T transaction(Work<T> work) {
        guard.check("database");
        if (!Thread.holdsLock(this)) {
            readBarrier.run();
        }
        return inTransaction(work);
    }

    /**
     * Sets what a transaction waits for before it starts (not when nested in another): the settlement journal's
     * writer catching up with what was handed to it, so that every reader sees the records journaled before it
     * asked. The barrier must return at once on the writer's own thread.
     */
    public void readBarrier(Runnable barrier) {
        this.readBarrier = barrier;
    }

    private synchronized <T> T inTransaction(Work<T> work) {
        serial++;
        try {
            T result = work.run(statements.connection());
            // Work that wrote behind (in memory) writes its rows now, inside the transaction; a hook may add another.
            for (int i = 0; i < beforeCommit.size(); i++) {
                beforeCommit.get(i).run(statements.connection());
            }
            beforeCommit.clear();
            connection.commit();
            commits++;
            afterRollback.clear();
            runAll(afterCommit);
            return result;
        } catch (SQLException | RuntimeException e) {
            try {
                connection.rollback();
            } catch (SQLException suppressed) {
                e.addSuppressed(suppressed);
            }
            afterCommit.clear();
            beforeCommit.clear();
            runAll(afterRollback);
            if (e instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException("database: " + e.getMessage(), e);
        }
    }

    /**
     * Inside a transaction: runs {@code onCommit} once it committed, or {@code onRollback} (may be null) if it
     * rolled back. Both run on the committing thread, still holding the transaction lock: keep them short.
     */
    public synchronized void whenDone(Runnable onCommit, Runnable onRollback) {
        if (onCommit != null) {
            afterCommit.add(onCommit);
        }
        if (onRollback != null) {
            afterRollback.add(onRollback);
        }
    }

    /**
     * Inside a transaction: runs {@code flush} after the transaction's work and before its commit, in the same
     * transaction (its failure rolls everything back). For state kept in memory and written once per commit.
     */
    public synchronized void beforeCommit(Work<?> flush) {
        beforeCommit.add(flush);
    }

    /**
     * Inside a transaction: a number that differs for every transaction this database ran (to tell whether a cache
     * was checked in the current one).
     */
    public synchronized long transactionSerial() {
        return serial;
    }

    /** The one instance of {@code type} kept for this database (made by {@code make} on first use). */
    public <T> T shared(Class<T> type, java.util.function.Function<Database, T> make) {
        return type.cast(shared.computeIfAbsent(type, k -> make.apply(this)));
    }

    private static void runAll(java.util.List<Runnable> actions) {
        Runnable[] copy = actions.toArray(new Runnable[0]);
        actions.clear();
        for (Runnable r : copy) {
            r.run();
        }
    }

    /** Transactions committed since the database was opened. */
    public long commits() {
        return commits;
    }

    @Override
    public synchronized void close() {
        if (checkpointer != null) {
            checkpointer.close();
        }
        statements.close();
        try {
            connection.close();
        } catch (SQLException e) {
            // Closing: nothing left to protect.
        }
    }
}
