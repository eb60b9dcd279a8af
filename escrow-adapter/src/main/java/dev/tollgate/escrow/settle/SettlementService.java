package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.ledger.Conservation;
import dev.tollgate.escrow.ledger.EmbeddedLedger;
import dev.tollgate.escrow.ledger.LedgerBook;
import dev.tollgate.escrow.ledger.Statement;
import dev.tollgate.escrow.port.EscrowPort;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.agent.UsageListener;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Pays the worker for every metered request, exactly once. What the proxy calls:
 * <ul>
 *   <li>{@link #admit} before forwarding a request (locks or reserves funds; refusal means HTTP 402);</li>
 *   <li>{@link #usageListener()} on the metering thread: each batch of usage records and the settlement
 *       intents they imply are written in one local transaction (usage deduplicated by request id forever);</li>
 *   <li>the settler thread then carries the intents out against the escrow backend.</li>
 * </ul>
 *
 * <p>Threading: {@link #admit} never blocks its caller (database and backend work runs on the
 * "tollgate-ledger" executor); the listener runs on the metering thread; readers may run on any thread.
 */
public final class SettlementService implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(SettlementService.class.getName());

    private final SettlementConfig cfg;
    private final Database db;
    private final EscrowPort port;
    private final EmbeddedLedger ledger;
    private final Clock clock;
    private final PerRequestPolicy perRequest;
    private final StreamBudgetPolicy streamBudget;
    private final PostPayPolicy postPay;
    private final boolean postPaid;
    private long lastArrearsRetry;
    private final Settler settler;
    private final ExecutorService executor;
    private final Function<String, String> workerOfUpstream;

    private SettlementService(SettlementConfig cfg, Database db, EscrowPort port, EmbeddedLedger ledger, Clock clock,
                              Function<String, String> workerOfUpstream) {
        this.cfg = cfg;
        this.db = db;
        this.port = port;
        this.ledger = ledger;
        this.clock = clock;
        this.workerOfUpstream = workerOfUpstream;
        this.perRequest = new PerRequestPolicy(cfg, db, port, clock);
        this.streamBudget = new StreamBudgetPolicy(cfg, db, port, clock);
        this.postPaid = !port.capabilities().partialRelease();
        this.postPay = new PostPayPolicy(cfg, Math.max(cfg.minLockMicros(), port.capabilities().minimumLockMicros()));
        this.settler = new Settler(db, port, clock, this::housekeeping);
        this.executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "tollgate-ledger");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Opens the database in the configured directory, funds configured accounts once, resumes unfinished
     * operations, and starts the settler.
     *
     * @param backend          builds the escrow backend on the service's database, or null for the embedded ledger
     * @param workerOfUpstream maps a usage record's upstream name to the payee agent
     */
    public static SettlementService open(SettlementConfig cfg, Clock clock, Function<Database, EscrowPort> backend,
                                         Function<String, String> workerOfUpstream) {
        Database db = Database.open(cfg.dataDir());
        EmbeddedLedger ledger = new EmbeddedLedger(db, new LedgerBook(cfg.fees()), clock, cfg.minLockMicros(),
                cfg.expiryRefunds());
        SettlementService s = new SettlementService(cfg, db, backend == null ? ledger : backend.apply(db), ledger,
                clock, workerOfUpstream);
        cfg.accounts().forEach((account, policy) -> {
            if (account.equals("*")) {
                return;
            }
            if (policy.referrer() != null) {
                ledger.setReferrer(account, policy.referrer());
            }
            if (policy.fundMicros() > 0) {
                ledger.credit("fund:" + account, account, policy.fundMicros());
            }
        });
        db.transaction(c -> {
            StreamBudgetPolicy.closeOrphans(c, clock.millis());
            return null;
        });
        s.settler.start();
        return s;
    }

    public SettlementConfig config() {
        return cfg;
    }

    /** The embedded ledger (balances, faucet, statements). */
    public EmbeddedLedger ledger() {
        return ledger;
    }

    /** Whether requests of this account are settled (and so need a prompt estimate at admission). */
    public boolean settles(String account) {
        return cfg.policyOf(account).kind() != PolicyKind.NONE;
    }

    /** Decides whether a request may be forwarded; completes on the ledger executor. */
    public CompletableFuture<Admission> admit(String requestId, String account, String worker, String model,
                                              long promptTokenEstimate, long maxTokens) {
        AccountPolicy p = cfg.policyOf(account);
        if (p.kind() == PolicyKind.NONE) {
            return CompletableFuture.completedFuture(Admission.FREE);
        }
        if (p.fundMicros() > 0 && cfg.accounts().get(account) == null) {
            // A wildcard policy funds each new account once, on first use.
            executor.execute(() -> ledger.credit("fund:" + account, account, p.fundMicros()));
        }
        if (postPaid) {
            return CompletableFuture.supplyAsync(() -> db.transaction(c -> PostPayPolicy.inArrears(c, account, worker))
                    ? Admission.paymentRequired("Insufficient balance: the escrow service refused the last payment of "
                    + account + "; top up the balance.") : Admission.FREE, executor);
        }
        if (p.kind() == PolicyKind.STREAM_BUDGET) {
            Admission fast = streamBudget.tryReserve(requestId, account, worker,
                    streamBudget.estimate(model, promptTokenEstimate, maxTokens, p));
            if (fast != null) {
                return CompletableFuture.completedFuture(fast);
            }
        }
        return CompletableFuture.supplyAsync(() -> p.kind() == PolicyKind.PER_REQUEST
                ? perRequest.admit(requestId, account, worker, model, promptTokenEstimate, maxTokens, p)
                : streamBudget.admit(requestId, account, worker, model, promptTokenEstimate, maxTokens, p), executor);
    }

    /** The journal: register on the metering agent. */
    public UsageListener usageListener() {
        return this::journal;
    }

    private void journal(List<UsageRecord> batch) {
        long now = clock.millis();
        db.transaction(c -> {
            for (UsageRecord r : batch) {
                String worker = workerOfUpstream.apply(r.upstream());
                if (!UsageJournal.insert(c, r, worker)) {
                    continue; // Seen before: it was settled (or is being settled) once already.
                }
                if (postPaid) {
                    AccountPolicy p = cfg.policyOf(r.account());
                    if (p.kind() != PolicyKind.NONE) {
                        postPay.onUsage(c, r, worker, p, now);
                    }
                    continue;
                }
                StreamBudgetPolicy.Reservation reservation = streamBudget.take(r.requestId());
                if (reservation != null) {
                    streamBudget.onUsage(c, reservation, r, cfg.policyOf(r.account()), now);
                    continue;
                }
                SettlementRows.Row row = SettlementRows.find(c, r.requestId());
                if (row != null && row.policy().equals(PerRequestPolicy.NAME)) {
                    perRequest.onUsage(c, row, r, cfg.policyOf(row.account()), now);
                }
            }
            return null;
        });
        settler.wake();
    }

    /** Timers: escrow expiry, quality deadlines, time-based budget batches. Runs on the settler thread. */
    private void housekeeping() {
        long now = clock.millis();
        if (port == ledger) {
            ledger.expireDue();
        }
        db.transaction(c -> {
            if (postPaid && now - lastArrearsRetry >= 60_000) {
                lastArrearsRetry = now;
                postPay.retryArrears(c, now);
            }
            StreamBudgetPolicy.flushDue(c, cfg, now);
            for (String id : awaitingScore(c, now)) {
                SettlementRows.Row row = SettlementRows.find(c, id);
                applyScore(c, row, cfg.policyOf(row.account()).quality().defaultScoreBps(), now);
            }
            return null;
        });
    }

    private static List<String> awaitingScore(Connection c, long now) throws SQLException {
        List<String> ids = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT request_id FROM settlement WHERE state = 'awaiting_score' AND deadline_ms <= ?")) {
            ps.setLong(1, now);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ids.add(rs.getString(1));
                }
            }
        }
        return ids;
    }

    /**
     * Attaches a quality score (decimal in [0, 1]) to a request. With gating, it decides what the held cost
     * pays (by tier); above the bonus threshold the worker gets the quality bonus. False for an unknown request.
     */
    public boolean score(String requestId, String score) {
        int bps = SettlementConfigReader.bps(score);
        boolean known = db.transaction(c -> {
            SettlementRows.Row row = SettlementRows.find(c, requestId);
            if (row == null) {
                return false;
            }
            SettlementRows.update(c, requestId, "score = ?", score);
            if (row.state().equals("awaiting_score")) {
                applyScore(c, row, bps, clock.millis());
            } else {
                qualityBonus(c, row, bps, clock.millis());
            }
            return true;
        });
        settler.wake();
        return known;
    }

    private void applyScore(Connection c, SettlementRows.Row row, int bps, long now) throws SQLException {
        AccountPolicy.Quality q = cfg.policyOf(row.account()).quality();
        long pay = bps >= q.fullBps() ? row.cost() : bps >= q.partialBps() ? row.cost() * q.partialPct() / 100 : 0;
        SettlementRows.update(c, row.requestId(), "state = ?, cost = ?", pay > 0 ? "settling" : "refunding", pay);
        PerRequestPolicy.settle(c, row, pay, now);
        qualityBonus(c, row, bps, now);
    }

    private void qualityBonus(Connection c, SettlementRows.Row row, int bps, long now) throws SQLException {
        AccountPolicy.Quality q = cfg.policyOf(row.account()).quality();
        if (bps > q.bonusAboveBps() && row.cost() > 0 && q.bonusPct() > 0) {
            SettleOps.insert(c, "bonus-quality:" + row.requestId(), row.requestId(), row.escrowId() + ":bonus",
                    SettleOps.Kind.PAY, row.cost() * q.bonusPct() / 100, row.account(), row.worker(), now);
        }
    }

    /** Closes a payer's stream budgets: releases what is owed and refunds the rest. */
    public int closeBudgets(String payer) {
        int n = db.transaction(c -> StreamBudgetPolicy.closeAll(c, payer, clock.millis()));
        settler.wake();
        return n;
    }

    public Optional<SettlementView> settlement(String requestId) {
        return Optional.ofNullable(db.transaction(c -> {
            SettlementRows.Row r = SettlementRows.find(c, requestId);
            return r == null ? null : new SettlementView(r.requestId(), r.policy(), r.state(), r.escrowId(),
                    r.reserved(), r.cost(), r.released(), r.refunded(), r.bonus());
        }));
    }

    /** A journaled usage record (survives restarts), or null. */
    public UsageRecord usage(String requestId) {
        return db.transaction(c -> UsageJournal.find(c, requestId));
    }

    public Statement statement(String agent) {
        return ledger.statement(agent);
    }

    public Conservation conservation() {
        return ledger.conservation();
    }

    /** Credits the dev faucet's 1 USDC to an agent, once; false when disabled or already claimed. */
    public boolean faucet(String agent) {
        return cfg.faucet() && ledger.faucet(agent);
    }

    /** Settlement operations not yet done (pending, sent or unknown). */
    public long unfinishedOperations() {
        return db.transaction(c -> SettleOps.count(c, "pending") + SettleOps.count(c, "sent")
                + SettleOps.count(c, "unknown"));
    }

    /** Runs due settlement operations now, on the caller (tests, shutdown, the CLI). */
    public void settleNow() {
        while (settler.runDue() > 0) {
            // Until nothing is due.
        }
    }

    /** Appends settlement metrics in Prometheus text format. */
    public void writePrometheus(StringBuilder out) {
        long[] counts = db.transaction(c -> new long[] {SettleOps.count(c, "pending") + SettleOps.count(c, "unknown"),
            SettleOps.count(c, "done"), SettleOps.count(c, "rejected"), UsageJournal.count(c)});
        out.append("# HELP tollgate_settlement_operations_pending Settlement operations not yet carried out.\n")
                .append("# TYPE tollgate_settlement_operations_pending gauge\n")
                .append("tollgate_settlement_operations_pending ").append(counts[0]).append('\n')
                .append("# HELP tollgate_settlement_operations_total Settlement operations finished, by result.\n")
                .append("# TYPE tollgate_settlement_operations_total counter\n")
                .append("tollgate_settlement_operations_total{result=\"done\"} ").append(counts[1]).append('\n')
                .append("tollgate_settlement_operations_total{result=\"rejected\"} ").append(counts[2]).append('\n')
                .append("# HELP tollgate_journal_usage_records Usage records in the durable journal.\n")
                .append("# TYPE tollgate_journal_usage_records gauge\n")
                .append("tollgate_journal_usage_records ").append(counts[3]).append('\n');
    }

    @Override
    public void close() {
        settler.stop();
        executor.shutdown();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            db.close();
        } catch (RuntimeException e) {
            LOG.log(Level.FINE, "closing the database", e);
        }
    }
}
