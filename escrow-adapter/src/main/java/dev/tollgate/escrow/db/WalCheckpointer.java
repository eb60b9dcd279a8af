package dev.tollgate.escrow.db;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Copies the write-ahead log into the database file from its own connection and thread, so that the writer's
 * commits never pay for it. SQLite otherwise checkpoints inside whichever commit crosses 1,000 WAL pages, with an
 * fsync of the log and of the database file: on this workload that put 10-20 ms stalls into a commit every
 * hundred or so, and so into the end of the responses waiting for that commit. A passive checkpoint never blocks
 * the writer; it copies what no reader still needs.
 *
 * <p>Threading: one daemon thread, "tollgate-wal-checkpoint"; {@link #close} from any thread.
 */
final class WalCheckpointer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(WalCheckpointer.class.getName());
    private static final long PERIOD_MS = 500;

    private final Connection connection;
    private final Thread thread;
    private volatile boolean running = true;

    WalCheckpointer(Path file, String synchronous) throws SQLException {
        this.connection = DriverManager.getConnection("jdbc:sqlite:" + file);
        try (Statement s = connection.createStatement()) {
            s.execute("PRAGMA busy_timeout=5000");
            s.execute("PRAGMA synchronous=" + synchronous);
        }
        this.thread = new Thread(this::run, "tollgate-wal-checkpoint");
        this.thread.setDaemon(true);
        this.thread.start();
    }

    private void run() {
        while (running) {
            try {
                Thread.sleep(PERIOD_MS);
                try (Statement s = connection.createStatement()) {
                    s.execute("PRAGMA wal_checkpoint(PASSIVE)");
                }
            } catch (InterruptedException e) {
                return;
            } catch (SQLException e) {
                LOG.log(Level.FINE, "WAL checkpoint skipped", e);
            }
        }
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            connection.close();
        } catch (SQLException e) {
            // Closing.
        }
    }
}
