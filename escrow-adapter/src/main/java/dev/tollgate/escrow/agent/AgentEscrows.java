package dev.tollgate.escrow.agent;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.ledger.EmbeddedLedger;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.port.LockRequest;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.regex.Pattern;

/**
 * Escrows agents open, release and refund themselves (the agent API's REST and MCP tools), on the embedded
 * ledger: a lock from the payer's balance (reserved in {@code AvailableFunds} first, like every agent debit),
 * releases to a cumulative target, partial and full refunds, and the auto-release timer ({@code release} to the
 * payee by default, or {@code refund}).
 *
 * <p>The ledger escrow row never expires by the ledger's own rule (its expiry is far in the future); this class
 * settles it at its own {@code release_at_ms} with its own outcome.
 *
 * <p>Threading: every ledger write runs on this class's single "tollgate-agent-escrow" thread
 * ({@link #submit}), inside one database transaction (which the database serializes with the settlement
 * journal's group commit); the connection-taking methods must only be called from work given to
 * {@link #submit}. Never call them from an event loop.
 */
public final class AgentEscrows implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(AgentEscrows.class.getName());
    /** Longest auto-release period: one year. */
    public static final long MAX_HOURS = 24L * 366;
    private static final long NEVER = Long.MAX_VALUE / 2;
    private static final Pattern AGENT_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}");

    private final Database db;
    private final EmbeddedLedger ledger;
    private final Clock clock;
    private final long defaultHours;
    private final SecureRandom random = new SecureRandom();
    private final java.util.concurrent.atomic.AtomicLong expired = new java.util.concurrent.atomic.AtomicLong();
    private volatile ClosedListener closedListener = (c, id) -> { };

    /** Told, inside the transaction that closes it, the id of an agent escrow this class closed. */
    @FunctionalInterface
    public interface ClosedListener {
        void closed(Connection c, String escrowId) throws SQLException;
    }
    private final ScheduledExecutorService thread = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "tollgate-agent-escrow");
        t.setDaemon(true);
        return t;
    });

    public AgentEscrows(Database db, EmbeddedLedger ledger, Clock clock, long defaultHours) {
        this.db = db;
        this.ledger = ledger;
        this.clock = clock;
        this.defaultHours = defaultHours;
    }

    /** Starts the auto-release timer (every {@code periodMillis}). */
    public void start(long periodMillis) {
        thread.scheduleWithFixedDelay(() -> {
            try {
                db.transaction(this::sweepDue);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "agent escrow auto-release failed; retried on the next tick", e);
            }
        }, periodMillis, periodMillis, TimeUnit.MILLISECONDS);
    }

    /** Runs {@code work} in one transaction on the agent escrow thread; the future completes there. */
    public <T> CompletableFuture<T> submit(Database.Work<T> work) {
        try {
            return CompletableFuture.supplyAsync(() -> db.transaction(work), thread);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // Shutting down: the caller answers "unavailable" instead of failing on its own thread.
            return CompletableFuture.failedFuture(e);
        }
    }

    /** Settles every escrow whose auto-release time has come, now (tests, the CLI); completes with how many. */
    public CompletableFuture<Integer> sweepNow() {
        return submit(this::sweepDue);
    }

    /**
     * Told the id of every agent escrow this class closes, inside the closing transaction (so what it writes
     * commits with the close); on this class's thread, keep it short.
     */
    public void onClosed(ClosedListener listener) {
        this.closedListener = listener;
    }

    public long defaultHours() {
        return defaultHours;
    }

    /** The agent's balance minus reservations not yet written (what it can lock now). */
    public long available(String agent) {
        return ledger.funds().available(agent);
    }

    /** Whether {@code id} may name an agent (system accounts and escrow holds may not be paid). */
    public static boolean validAgentId(String id) {
        return id != null && AGENT_ID.matcher(id).matches();
    }

    /**
     * A fresh ledger operation id: unique across restarts and clock changes (a reused id would replay an earlier
     * operation's answer instead of acting). Idempotency towards agents is the API's keys, not these ids.
     */
    private static String opId(String kind, String escrowId) {
        return "agent-" + kind + ":" + escrowId + ":" + java.util.UUID.randomUUID();
    }

    /** Locks {@code amount} of the payer's balance for the payee. */
    public AgentEscrow create(Connection c, String payer, String payee, long amount, String memo, long hours,
                              String onExpiry) throws SQLException {
        if (!validAgentId(payee)) {
            throw new AgentEscrowException("invalid_request", "to_agent_id must be an agent id (letters, digits, "
                    + "'_', '.', ':', '-'; at most 128 characters).");
        }
        if (payee.equals(payer)) {
            throw new AgentEscrowException("invalid_request", "An agent cannot open an escrow to itself.");
        }
        if (hours < 1 || hours > MAX_HOURS) {
            throw new AgentEscrowException("invalid_request", "auto_release_hours must be a whole number from 1 to "
                    + MAX_HOURS + ".");
        }
        byte[] b = new byte[8];
        random.nextBytes(b);
        String id = "esc_" + HexFormat.of().formatHex(b);
        long now = clock.millis();
        EscrowResult r = ledger.lock(c, opId("lock", id), new LockRequest(id, payer, payee, amount, NEVER,
                "agent escrow: " + memo), false);
        if (r instanceof EscrowResult.Rejected rej) {
            throw switch (rej.code()) {
                case "insufficient_balance" -> new AgentEscrowException("insufficient_balance", payer
                        + " cannot lock " + dev.tollgate.escrow.pricing.Micros.format(amount) + " USDC.");
                case "invalid_amount" -> new AgentEscrowException("invalid_amount", "The amount is below the "
                        + "minimum escrow of " + dev.tollgate.escrow.pricing.Micros.format(
                        ledger.capabilities().minimumLockMicros()) + " USDC.");
                default -> new AgentEscrowException("invalid_request", rej.message());
            };
        }
        AgentEscrowRows.insert(c, id, payer, payee, memo, hours, now + hours * 3_600_000L, onExpiry, now);
        return row(c, id);
    }

    /** An escrow its payer or payee may read; anyone else gets {@code not_found}. */
    public AgentEscrow read(Connection c, String caller, String id) throws SQLException {
        AgentEscrow e = id == null ? null : row(c, id);
        if (e == null || !(e.payer().equals(caller) || e.payee().equals(caller))) {
            throw new AgentEscrowException("not_found", "No escrow with id '" + id + "'.");
        }
        return e;
    }

    /** An open escrow its payer may settle. */
    private AgentEscrow forPayer(Connection c, String caller, String id) throws SQLException {
        AgentEscrow e = read(c, caller, id);
        if (!e.payer().equals(caller)) {
            throw new AgentEscrowException("not_payer", "Only the payer of " + id + " can release or refund it.");
        }
        if (!e.open()) {
            throw new AgentEscrowException("already_settled", id + " is already " + e.status() + ".");
        }
        return e;
    }

    /** Releases everything the escrow still holds to the payee and closes it. */
    public AgentEscrow release(Connection c, String caller, String id) throws SQLException {
        AgentEscrow e = forPayer(c, caller, id);
        expect(ledger.releaseTo(c, opId("release", id), id, e.lockedMicros() - e.refundedMicros()));
        return close(c, id);
    }

    /** Releases {@code amount} more to the payee; the escrow closes when nothing is left. */
    public AgentEscrow releasePart(Connection c, String caller, String id, long amount) throws SQLException {
        AgentEscrow e = forPayer(c, caller, id);
        if (amount <= 0 || amount > e.remainingMicros()) {
            throw new AgentEscrowException("invalid_amount", "The amount must be more than 0 and at most the "
                    + "remaining " + dev.tollgate.escrow.pricing.Micros.format(e.remainingMicros()) + " USDC.");
        }
        expect(ledger.releaseTo(c, opId("release", id), id, e.releasedMicros() + amount));
        return amount == e.remainingMicros() ? close(c, id) : row(c, id);
    }

    /** Refunds {@code amount} to the payer, or everything left (and closes) when {@code amount} is negative. */
    public AgentEscrow refund(Connection c, String caller, String id, long amount) throws SQLException {
        AgentEscrow e = forPayer(c, caller, id);
        if (amount < 0 || amount == e.remainingMicros()) {
            return close(c, id);
        }
        if (amount == 0 || amount > e.remainingMicros()) {
            throw new AgentEscrowException("invalid_amount", "The amount must be more than 0 and at most the "
                    + "remaining " + dev.tollgate.escrow.pricing.Micros.format(e.remainingMicros()) + " USDC.");
        }
        expect(ledger.refund(c, opId("refund", id), id, amount));
        return row(c, id);
    }

    /** A page of the caller's escrows (as payer or payee), newest first. */
    public AgentEscrowPage list(Connection c, String caller, long beforeSeq, int limit) throws SQLException {
        return page(c, caller, beforeSeq, limit);
    }

    private AgentEscrow close(Connection c, String id) throws SQLException {
        expect(ledger.refundRemainder(c, opId("close", id), id));
        AgentEscrowRows.markClosed(c, id);
        closedListener.closed(c, id);
        return row(c, id);
    }

    /** Gives an escrow named tranches (milestones), in order; their amounts must not exceed what it holds. */
    public void addMilestones(Connection c, String id, java.util.Map<String, Long> tranches) throws SQLException {
        int seq = 0;
        for (java.util.Map.Entry<String, Long> t : tranches.entrySet()) {
            try (java.sql.PreparedStatement ps = c.prepareStatement(
                    "INSERT INTO agent_milestone(escrow_id, seq, name, amount) VALUES (?, ?, ?, ?)")) {
                ps.setString(1, id);
                ps.setInt(2, seq++);
                ps.setString(3, t.getKey());
                ps.setLong(4, t.getValue());
                ps.executeUpdate();
            }
        }
    }

    /** The escrow's milestones in order: {name, amount, released (1/0)}. */
    public List<long[]> milestoneAmounts(Connection c, String id, List<String> namesOut) throws SQLException {
        List<long[]> out = new java.util.ArrayList<>();
        try (java.sql.PreparedStatement ps = c.prepareStatement(
                "SELECT name, amount, released_ms IS NOT NULL FROM agent_milestone WHERE escrow_id = ? ORDER BY seq")) {
            ps.setString(1, id);
            try (java.sql.ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    namesOut.add(rs.getString(1));
                    out.add(new long[] {rs.getLong(2), rs.getInt(3)});
                }
            }
        }
        return out;
    }

    /** Releases one named tranche to the payee (the payer's call); the escrow closes after its last one. */
    public AgentEscrow releaseMilestone(Connection c, String caller, String id, String name) throws SQLException {
        AgentEscrow e = forPayer(c, caller, id);
        long amount;
        boolean released;
        try (java.sql.PreparedStatement ps = c.prepareStatement(
                "SELECT amount, released_ms IS NOT NULL FROM agent_milestone WHERE escrow_id = ? AND name = ?")) {
            ps.setString(1, id);
            ps.setString(2, name);
            try (java.sql.ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    throw new AgentEscrowException("not_found", id + " has no milestone '" + name + "'.");
                }
                amount = rs.getLong(1);
                released = rs.getInt(2) == 1;
            }
        }
        if (released) {
            throw new AgentEscrowException("already_settled", "Milestone '" + name + "' of " + id
                    + " was released already.");
        }
        if (amount > e.remainingMicros()) {
            throw new AgentEscrowException("invalid_amount", "Milestone '" + name + "' needs "
                    + dev.tollgate.escrow.pricing.Micros.format(amount) + " USDC; " + id + " holds "
                    + dev.tollgate.escrow.pricing.Micros.format(e.remainingMicros()) + ".");
        }
        expect(ledger.releaseTo(c, opId("milestone", id), id, e.releasedMicros() + amount));
        try (java.sql.PreparedStatement ps = c.prepareStatement(
                "UPDATE agent_milestone SET released_ms = ? WHERE escrow_id = ? AND name = ?")) {
            ps.setLong(1, clock.millis());
            ps.setString(2, id);
            ps.setString(3, name);
            ps.executeUpdate();
        }
        return amount == e.remainingMicros() ? close(c, id) : row(c, id);
    }

    private static void expect(EscrowResult r) {
        if (!(r instanceof EscrowResult.Done)) {
            // The checks above make this unreachable; failing rolls the whole request back.
            throw new IllegalStateException("ledger refused an agent escrow operation: " + r);
        }
    }

    /** Escrows settled at their auto-release time since start (by the timer or {@link #sweepNow}). */
    public long expiredCount() {
        return expired.get();
    }

    /** Settles due escrows inside the caller's transaction; returns how many. */
    int sweepDue(Connection c) throws SQLException {
        List<String[]> due = AgentEscrowRows.due(c, clock.millis());
        if (!due.isEmpty()) {
            db.whenDone(() -> expired.addAndGet(due.size()), null);
        }
        for (String[] d : due) {
            ledger.expire(c, d[0], d[1].equals("release"));
            AgentEscrowRows.markClosed(c, d[0]);
            closedListener.closed(c, d[0]);
        }
        return due.size();
    }

    @Override
    public void close() {
        thread.shutdown();
        try {
            thread.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** An escrow's row as a query in this transaction sees it: the ledger's changes so far are written first. */
    private AgentEscrow row(Connection c, String id) throws SQLException {
        ledger.writeBack(c);
        return AgentEscrowRows.find(c, id);
    }

    private AgentEscrowPage page(Connection c, String agent, long beforeSeq, int limit) throws SQLException {
        ledger.writeBack(c);
        return AgentEscrowRows.list(c, agent, beforeSeq, limit);
    }
}
