package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.port.EscrowPort;
import dev.tollgate.escrow.port.EscrowState;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.purpleflea.PurpleFleaEscrow;
import dev.tollgate.escrow.purpleflea.PurpleFleaEscrowView;
import dev.tollgate.escrow.purpleflea.RemoteEscrowRows;
import dev.tollgate.metering.agent.PrometheusText;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;

/**
 * What an operator sees and does about remote settlement that cannot finish by itself: operations whose outcome
 * is unknown (a create sent and never answered), operations stuck (still not done after {@link #STUCK_AFTER_MS}),
 * and payer x worker pairs whose payments the service refused for a configuration error. {@link #health} is a
 * snapshot refreshed by the settler's housekeeping (metrics and {@code /readyz} never touch the database);
 * {@link #resolve} reads the escrow from the service before anything is paid.
 *
 * <p>Threading: thread-safe; {@link #refresh} on the settler thread, the rest from any thread.
 */
public final class RemoteOperations {
    /** An operation not done after this long is reported as stuck. */
    public static final long STUCK_AFTER_MS = 10 * 60_000L;

    /** One operation an operator should look at. */
    public record Pending(String opId, String kind, String payer, String worker, long amountMicros, String state,
                          long ageMillis, String reason) {
    }

    /** A payer x worker whose payments stopped for a reason other than the payer's balance. */
    public record Problem(String payer, String worker, String code, String message) {
    }

    /**
     * @param unknownOperations operations whose outcome is unknown
     * @param unknownMicros     their amount
     * @param stuckOperations   operations still to do (pending or sent) {@link #STUCK_AFTER_MS} after they were
     *                          written: settlement is not progressing (unknown ones wait for an operator instead)
     * @param misconfigured     pairs stopped by a configuration error
     */
    public record Health(long unknownOperations, long unknownMicros, long stuckOperations, List<Problem> misconfigured) {
        static final Health EMPTY = new Health(0, 0, 0, List.of());

        public boolean healthy() {
            return unknownOperations == 0 && stuckOperations == 0 && misconfigured.isEmpty();
        }
    }

    private final Database db;
    private final EscrowPort port;
    private final Clock clock;
    private final Runnable wake;
    private final Settler.LaneFreed laneFreed;
    private volatile Health health = Health.EMPTY;
    private volatile long payersInArrears;

    RemoteOperations(Database db, EscrowPort port, Clock clock, Runnable wake, Settler.LaneFreed laneFreed) {
        this.db = db;
        this.port = port;
        this.clock = clock;
        this.wake = wake;
        this.laneFreed = laneFreed;
    }

    public Health health() {
        return health;
    }

    /** Appends the health gauges in Prometheus text format (from memory: a scrape never touches the database). */
    void writePrometheus(StringBuilder out) {
        Health h = health;
        PrometheusText.gauge(out, "tollgate_settlement_unknown_operations",
                "Remote settlement operations whose outcome is unknown (see tollgate settle pending).",
                h.unknownOperations());
        PrometheusText.gauge(out, "tollgate_settlement_unknown_micros",
                "Micro-USDC in remote settlement operations whose outcome is unknown.", h.unknownMicros());
        PrometheusText.gauge(out, "tollgate_settlement_stuck_operations",
                "Remote settlement operations not done after 10 minutes.", h.stuckOperations());
        PrometheusText.gauge(out, "tollgate_settlement_misconfigured_pairs",
                "Payer x worker pairs whose payments the escrow service refused for a configuration error.",
                h.misconfigured().size());
    }

    /** Recomputes {@link #health} now (the CLI, tests) and returns it. */
    public Health refreshNow() {
        db.transaction(c -> {
            refresh(c, clock.millis());
            return null;
        });
        return health;
    }

    /** Recomputes {@link #health} (the settler's housekeeping, in its transaction). */
    void refresh(Connection c, long now) throws SQLException {
        long unknown = 0;
        long unknownMicros = 0;
        long stuck;
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*), COALESCE(SUM(target), 0) FROM settle_op "
                + "WHERE state = 'unknown'")) {
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                unknown = rs.getLong(1);
                unknownMicros = rs.getLong(2);
            }
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM settle_op WHERE state IN ('pending', 'sent') "
                + "AND created_ms < ?")) {
            ps.setLong(1, now - STUCK_AFTER_MS);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                stuck = rs.getLong(1);
            }
        }
        health = new Health(unknown, unknownMicros, stuck, problems(c));
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(DISTINCT payer) FROM postpay WHERE arrears = 1");
             ResultSet rs = ps.executeQuery()) {
            payersInArrears = rs.next() ? rs.getLong(1) : 0;
        }
    }

    /** Payers the service refused for insufficient balance, as of the last {@link #refresh} (from memory). */
    long payersInArrears() {
        return payersInArrears;
    }

    private static List<Problem> problems(Connection c) throws SQLException {
        List<Problem> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT q.payer, q.worker, q.code, q.message FROM postpay_problem q "
                + "JOIN postpay p ON p.payer = q.payer AND p.worker = q.worker WHERE p.arrears = 2 "
                + "ORDER BY q.payer, q.worker");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                out.add(new Problem(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4)));
            }
        }
        return out;
    }

    /** Unknown and stuck operations, oldest first. */
    public List<Pending> pending() {
        long now = clock.millis();
        return db.transaction(c -> {
            List<Pending> out = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT op_id, kind, payer, payee, target, state, created_ms, "
                    + "error FROM settle_op WHERE state = 'unknown' OR (state IN ('pending', 'sent') AND created_ms < ?) "
                    + "ORDER BY created_ms, rowid")) {
                ps.setLong(1, now - STUCK_AFTER_MS);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        String state = rs.getString(6);
                        String reason = rs.getString(8);
                        out.add(new Pending(rs.getString(1), rs.getString(2).toLowerCase(), rs.getString(3),
                                rs.getString(4), rs.getLong(5), state, now - rs.getLong(7),
                                reason != null ? reason : state.equals("unknown") ? "outcome unknown" : "not done yet"));
                    }
                }
            }
            return out;
        });
    }

    /**
     * Resolves an unknown payment with the escrow an operator found (by the operation id in its description):
     * the escrow is read from the service first and must be this operation's (description, worker, amount); a
     * funded one is then released by the settler, a released one is recorded, a refunded one (the service's
     * timeout) makes the amount owed again. Returns what was done.
     *
     * @throws IllegalArgumentException when the operation or the escrow does not fit (nothing changed)
     */
    public String resolveWithEscrow(String opId, String escrowId) {
        SettleOps.Op op = unknownPayment(opId);
        PurpleFleaEscrowView view;
        if (port instanceof PurpleFleaEscrow pf) {
            view = pf.view(escrowId);
        } else {
            EscrowState s = port.read(escrowId);
            view = s == null ? null : new PurpleFleaEscrowView(s, "tollgate op=" + opId);
        }
        if (view == null) {
            throw new IllegalArgumentException("escrow " + escrowId + " could not be read from the escrow service "
                    + "(unknown id, or the service is unreachable); nothing changed");
        }
        EscrowState s = view.state();
        if (!view.names(opId)) {
            throw new IllegalArgumentException("escrow " + escrowId + " belongs to another operation (description \""
                    + view.description() + "\"); nothing changed");
        }
        if (!s.payee().equals(op.payee()) || Math.abs(s.lockedMicros() - op.target()) > 1) {
            throw new IllegalArgumentException("escrow " + escrowId + " pays " + Micros.format(s.lockedMicros()) + " to "
                    + s.payee() + ", the operation " + Micros.format(op.target()) + " to " + op.payee()
                    + "; nothing changed");
        }
        long now = clock.millis();
        String result = switch (s.status()) {
            case "funded", "completed", "released" -> db.transaction(c -> {
                RemoteEscrowRows.adopt(c, opId, escrowId, op.target(), now);
                SettleOps.mark(c, opId, "pending", now, "resolved by an operator: escrow " + escrowId);
                return s.status().equals("released") ? "escrow " + escrowId + " was released; recording it"
                        : "releasing escrow " + escrowId + " (" + Micros.format(op.target()) + " to " + op.payee() + ")";
            });
            case "refunded" -> db.transaction(c -> {
                owedAgain(c, op, "escrow " + escrowId + " was refunded to the payer by the service's timeout", now);
                return "escrow " + escrowId + " was refunded to the payer (minus the service's fee); "
                        + Micros.format(op.target()) + " is owed to " + op.payee() + " again";
            });
            default -> throw new IllegalArgumentException("escrow " + escrowId + " is " + s.status()
                    + "; settle it with the escrow service; nothing changed");
        };
        wake.run();
        return result;
    }

    /**
     * Resolves an unknown payment that an operator established created no escrow: its amount is owed again and
     * paid by the next payment of the pair.
     */
    public String resolveNotCreated(String opId) {
        SettleOps.Op op = unknownPayment(opId);
        db.transaction(c -> {
            owedAgain(c, op, "resolved by an operator: not created", clock.millis());
            return null;
        });
        wake.run();
        return Micros.format(op.target()) + " is owed to " + op.payee() + " again and goes into the next payment";
    }

    private void owedAgain(Connection c, SettleOps.Op op, String why, long now) throws SQLException {
        RemoteEscrowRows.notCreated(c, op.opId());
        SettleOps.mark(c, op.opId(), "rejected", now, why);
        PostPayPolicy.notPaid(c, op.payer(), op.payee(), op.target());
        laneFreed.freed(c, op.payer(), op.payee(), now);
    }

    private SettleOps.Op unknownPayment(String opId) {
        SettleOps.Op op = db.transaction(c -> SettleOps.find(c, opId));
        if (op == null) {
            throw new IllegalArgumentException("no settlement operation " + opId);
        }
        if (!op.state().equals("unknown") || op.kind() != SettleOps.Kind.PAY || !opId.startsWith(PostPayPolicy.LANE)) {
            throw new IllegalArgumentException("operation " + opId + " is " + op.state() + " (" + op.kind().name()
                    .toLowerCase() + "); only an unknown payment can be resolved by hand");
        }
        return op;
    }
}
