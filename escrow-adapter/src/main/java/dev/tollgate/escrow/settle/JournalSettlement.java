package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.ledger.EmbeddedLedger;
import dev.tollgate.metering.UsageRecord;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.HashSet;
import java.util.Set;
import java.util.function.Function;

/**
 * What the journal's group commit does with each admitted intent and each usage record, inside its transaction:
 * writes locks, credits, per-call charges and progress checkpoints, journals the record (once per request id) and
 * hands it to the policy that settles it.
 *
 * <p>Threading: the journal thread only.
 */
final class JournalSettlement {
    private final SettlementConfig cfg;
    private final EmbeddedLedger ledger;
    private final PerRequestPolicy perRequest;
    private final StreamBudgetPolicy streamBudget;
    private final PostPayPolicy postPay;
    private final PerCallPolicy perCall;
    private final PeriodPolicy periods;
    private final boolean postPaid;
    private final Function<String, String> workerOfUpstream;
    // Requests with a progress row, to delete it when their usage is journaled.
    private final Set<String> checkpointed = new HashSet<>();

    JournalSettlement(SettlementConfig cfg, EmbeddedLedger ledger, PerRequestPolicy perRequest,
                      StreamBudgetPolicy streamBudget, PostPayPolicy postPay, PerCallPolicy perCall,
                      PeriodPolicy periods, boolean postPaid, Function<String, String> workerOfUpstream) {
        this.cfg = cfg;
        this.ledger = ledger;
        this.perRequest = perRequest;
        this.streamBudget = streamBudget;
        this.postPay = postPay;
        this.perCall = perCall;
        this.periods = periods;
        this.postPaid = postPaid;
        this.workerOfUpstream = workerOfUpstream;
    }

    void applyIntent(Connection c, Object intent, long now) throws SQLException {
        if (intent instanceof LedgerIntents.Lock lock) {
            perRequest.applyLock(c, lock, now);
        } else if (intent instanceof StreamBudgetPolicy.Open open) {
            streamBudget.applyOpen(c, open, now);
        } else if (intent instanceof LedgerIntents.Credit credit) {
            ledger.credit(c, credit.opId(), credit.account(), credit.micros());
        } else if (intent instanceof PerCallPolicy.Charge charge) {
            perCall.apply(c, charge, now);
        } else if (intent instanceof LedgerIntents.Progress pr) {
            Recovery.checkpoint(c, pr, now);
            checkpointed.add(pr.requestId());
        }
    }

    /** After the commit's records: the settlement rows still in memory go to the table. */
    void writeRows(Connection c, long now) throws SQLException {
        perRequest.pending().write(c, now);
    }

    void settle(Connection c, UsageRecord r, long now) throws SQLException {
        String worker = workerOfUpstream.apply(r.upstream());
        PendingSettlements pending = perRequest.pending();
        if (pending.lockedInThisCommit(r.requestId())) {
            pending.addUsage(r, worker); // New for certain: written with the commit's settlement rows.
        } else if (!UsageJournal.insert(c, r, worker)) {
            return; // Seen before: it was settled (or is being settled) once already.
        }
        if (checkpointed.remove(r.requestId())) {
            Recovery.clearCheckpoint(c, r.requestId());
        }
        if (postPaid) {
            AccountPolicy p = cfg.policyOf(r.account());
            if (p.kind() != PolicyKind.NONE) {
                postPay.onUsage(c, r, worker, p, now);
            }
            return;
        }
        StreamBudgetPolicy.Reservation reservation = streamBudget.take(r,
                cfg.policyOf(r.account()).kind() == PolicyKind.STREAM_BUDGET);
        if (reservation != null) {
            streamBudget.onUsage(c, reservation, r, worker, cfg.policyOf(r.account()), now);
            return;
        }
        AccountPolicy policy = cfg.policyOf(r.account());
        if (policy.kind() == PolicyKind.PER_CALL) {
            return; // Paid at admission, in the commit that wrote its charge.
        }
        if (policy.kind().pattern()) {
            periods.onUsage(c, r, worker, policy, now);
            return;
        }
        SettlementRows.Row row = perRequest.pending().find(c, r.requestId());
        if (row != null && row.policy().equals(PerRequestPolicy.NAME)) {
            perRequest.onUsage(c, row, r, cfg.policyOf(row.account()), now);
        }
    }
}
