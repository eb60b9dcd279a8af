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
 * <p>Durability: WAL journal with {@code synchronous=FULL}: a committed transaction survives a process kill
 * and a power cut. Batching several usage records per transaction (group commit) pays for the fsync.
 *
 * <p>Threading: thread-safe; transactions are mutually exclusive.
 */
public final class Database implements AutoCloseable {
    private final Connection connection;

    /** Work done inside a transaction. */
    @FunctionalInterface
    public interface Work<T> {
        T run(Connection c) throws SQLException;
    }

    private Database(Connection connection) {
        this.connection = connection;
    }

    public static Database open(Path dir) {
        try {
            Files.createDirectories(dir);
            Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("tollgate.db"));
            try (Statement s = c.createStatement()) {
                s.execute("PRAGMA journal_mode=WAL");
                s.execute("PRAGMA synchronous=FULL");
                s.execute("PRAGMA busy_timeout=5000");
                s.execute("PRAGMA foreign_keys=ON");
            }
            c.setAutoCommit(false);
            Database db = new Database(c);
            db.transaction(Schema::create);
            return db;
        } catch (SQLException | java.io.IOException e) {
            throw new IllegalStateException("cannot open the database in " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Runs {@code work} in one transaction; any exception rolls everything back. */
    public synchronized <T> T transaction(Work<T> work) {
        try {
            T result = work.run(connection);
            connection.commit();
            return result;
        } catch (SQLException | RuntimeException e) {
            try {
                connection.rollback();
            } catch (SQLException suppressed) {
                e.addSuppressed(suppressed);
            }
            if (e instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException("database: " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void close() {
        try {
            connection.close();
        } catch (SQLException e) {
            // Closing: nothing left to protect.
        }
    }
}
