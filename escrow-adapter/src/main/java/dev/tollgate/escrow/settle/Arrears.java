package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.pricing.Micros;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Payers who owe for work already served (an {@code excess:} payment of cost beyond a hold or of a hybrid overage
 * unit whose pool had closed, or a {@code call:} per-call price, that the ledger refused): their next requests
 * are refused (402) until a retried payment goes through. The worker is paid for every token served; the payer
 * is not served more while it owes.
 *
 * <p>Threading: thread-safe; read on event loops at admission, written by the journal and the settler.
 */
final class Arrears {
    static final String OP_PREFIX = "excess:";
    /** A per-call price the payer's balance could not cover at its commit: owed like an excess. */
    static final String CALL_PREFIX = "call:";

    /** True for the id of a payment for work already served, owed until paid. */
    static boolean owedOp(String opId) {
        return opId.startsWith(OP_PREFIX) || opId.startsWith(CALL_PREFIX);
    }

    /** The ledger's movement kind for an owed payment (a per-call price keeps its kind in statements). */
    static String ledgerKind(String opId) {
        return opId.startsWith(CALL_PREFIX) ? PerCallPolicy.NAME : "excess";
    }

    /** What the payer owes durably (refused owed payments not yet paid), in micro-USDC; inside a transaction. */
    static long owedInDb(Connection c, String payer) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT COALESCE(SUM(target), 0) FROM settle_op WHERE payer = ? "
                + "AND (op_id LIKE 'excess:%' OR op_id LIKE 'call:%') AND state IN ('pending', 'unknown') "
                + "AND attempts > 0")) {
            ps.setString(1, payer);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        }
    }

    private final ConcurrentHashMap<String, ConcurrentHashMap<String, Long>> owed = new ConcurrentHashMap<>();

    /** At start-up: owed payments refused before and not yet paid. */
    void load(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT op_id, payer, target FROM settle_op WHERE (op_id LIKE "
                + "'excess:%' OR op_id LIKE 'call:%') AND state IN ('pending', 'unknown') AND attempts > 0");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                refused(rs.getString(2), rs.getString(1), rs.getLong(3));
            }
        }
    }

    void refused(String payer, String opId, long micros) {
        owed.computeIfAbsent(payer, p -> new ConcurrentHashMap<>()).put(opId, micros);
    }

    void paid(String payer, String opId) {
        ConcurrentHashMap<String, Long> m = owed.get(payer);
        if (m != null) {
            m.remove(opId);
        }
    }

    /** Payers owing something now. */
    long payers() {
        long n = 0;
        for (ConcurrentHashMap<String, Long> m : owed.values()) {
            if (!m.isEmpty()) {
                n++;
            }
        }
        return n;
    }

    /** What the payer owes, formatted, or null when it owes nothing. */
    String owedBy(String payer) {
        ConcurrentHashMap<String, Long> m = owed.get(payer);
        if (m == null || m.isEmpty()) {
            return null;
        }
        long sum = 0;
        for (long v : m.values()) {
            sum += v;
        }
        return Micros.format(sum);
    }
}
