package dev.tollgate.escrow.langfuse;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.escrow.settle.SettlementConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Per-request P&L rows for reconciliation with Langfuse traces: one row per journaled request started in
 * {@code [from, to)}, with its trace id, account, worker, model, tokens, the token cost at the configured prices,
 * what was charged, released, refunded, paid as bonus and as tips, the fees on those payments, and the release
 * status. Fees are those of the request's own escrow plus those of its direct payments (bonuses, cost beyond
 * the hold, tips); a stream budget's escrow serves many requests, so its fees are not split per request.
 * Amounts are decimal USDC with 6 decimals.
 *
 * <p>Threading: stateless; each export is one read transaction.
 */
public final class PnlExport {
    /** The columns, in order (CSV header and JSON keys). */
    public static final List<String> COLUMNS = List.of("request_id", "trace_id", "started_at", "account", "worker",
            "model", "prompt_tokens", "completion_tokens", "token_cost_usdc", "charged_usdc", "released_usdc",
            "refunded_usdc", "bonus_usdc", "tip_usdc", "fees_usdc", "release_status");
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Output format. */
    public enum Format { CSV, JSONL }

    private PnlExport() {
    }

    /**
     * A time bound: an ISO instant ({@code 2026-11-01T00:00:00Z}), a date ({@code 2026-11-01}, midnight UTC) or
     * epoch milliseconds; {@code dflt} when null or empty.
     */
    public static long parseTime(String v, long dflt) {
        if (v == null || v.isBlank()) {
            return dflt;
        }
        String s = v.trim();
        try {
            if (s.matches("[0-9]+")) {
                return Long.parseLong(s);
            }
            if (s.matches("[0-9]{4}-[0-9]{2}-[0-9]{2}")) {
                return LocalDate.parse(s).atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
            }
            return Instant.parse(s).toEpochMilli();
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("not a time: \"" + v + "\" (use 2026-11-01, 2026-11-01T00:00:00Z or "
                    + "epoch milliseconds)");
        }
    }

    /** Writes the rows of requests started in {@code [from, to)}; returns how many. */
    public static int write(Database db, SettlementConfig cfg, long from, long to, Format format, Appendable out) {
        return db.transaction(c -> {
            Map<String, Long> directFees = directFees(c);
            int n = 0;
            try (PreparedStatement ps = c.prepareStatement("SELECT u.request_id, u.trace_id, u.started_ms, u.account, "
                    + "u.worker, u.model, u.prompt, u.completion, u.duration_us, st.state, COALESCE(st.cost, 0), "
                    + "COALESCE(st.released, 0), COALESCE(st.refunded, 0), COALESCE(st.bonus, 0), "
                    + "(SELECT COALESCE(SUM(micros), 0) FROM langfuse_tip t WHERE t.request_id = u.request_id), "
                    + "(SELECT COALESCE(SUM(e.fee), 0) FROM escrow e WHERE e.id = st.escrow_id "
                    + "AND st.policy = 'per_request'), "
                    + "(SELECT GROUP_CONCAT(t.score_id) FROM langfuse_tip t WHERE t.request_id = u.request_id) "
                    + "FROM usage u LEFT JOIN settlement st ON st.request_id = u.request_id "
                    + "WHERE u.started_ms >= ? AND u.started_ms < ? ORDER BY u.started_ms, u.request_id")) {
                ps.setLong(1, from);
                ps.setLong(2, to);
                try (ResultSet rs = ps.executeQuery()) {
                    if (format == Format.CSV) {
                        out.append(String.join(",", COLUMNS)).append('\n');
                    }
                    while (rs.next()) {
                        String id = rs.getString(1);
                        long fees = rs.getLong(16);
                        for (String prefix : new String[] {"bonus-tps:", "bonus-quality:", "excess:"}) {
                            fees += directFees.getOrDefault(prefix + id, 0L);
                        }
                        String tips = rs.getString(17);
                        if (tips != null) {
                            for (String scoreId : tips.split(",")) {
                                fees += directFees.getOrDefault("tip:" + scoreId, 0L);
                            }
                        }
                        Price price = cfg.priceOf(rs.getString(6));
                        String tokenCost = price == null ? "" : Micros.format(price.microsFor(rs.getLong(7),
                                rs.getLong(8), 1, Math.max(0, rs.getLong(9) / 1000)));
                        Object[] row = {id, rs.getString(2), Instant.ofEpochMilli(rs.getLong(3)).toString(),
                                rs.getString(4), rs.getString(5), rs.getString(6), rs.getLong(7), rs.getLong(8),
                                tokenCost, Micros.format(rs.getLong(11)), Micros.format(rs.getLong(12)),
                                Micros.format(rs.getLong(13)), Micros.format(rs.getLong(14)),
                                Micros.format(rs.getLong(15)), Micros.format(fees),
                                TraceSnapshot.releaseStatus(rs.getString(10))};
                        if (format == Format.CSV) {
                            csv(out, row);
                        } else {
                            jsonl(out, row);
                        }
                        n++;
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return n;
        });
    }

    /** Fees and referral shares of direct payments, by operation id. */
    private static Map<String, Long> directFees(Connection c) throws SQLException {
        Map<String, Long> out = new HashMap<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT op_id, SUM(amount) FROM transfer WHERE escrow_id IS NULL "
                + "AND kind IN ('fee', 'referral') GROUP BY op_id");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                out.put(rs.getString(1), rs.getLong(2));
            }
        }
        return out;
    }

    private static void csv(Appendable out, Object[] row) throws IOException {
        for (int i = 0; i < row.length; i++) {
            if (i > 0) {
                out.append(',');
            }
            String v = row[i] == null ? "" : row[i].toString();
            if (v.indexOf(',') >= 0 || v.indexOf('"') >= 0 || v.indexOf('\n') >= 0 || v.indexOf('\r') >= 0) {
                v = '"' + v.replace("\"", "\"\"") + '"';
            }
            out.append(v);
        }
        out.append('\n');
    }

    private static void jsonl(Appendable out, Object[] row) throws IOException {
        ObjectNode o = JSON.createObjectNode();
        for (int i = 0; i < row.length; i++) {
            String k = COLUMNS.get(i);
            Object v = row[i];
            if (v == null || "".equals(v)) {
                o.putNull(k);
            } else if (v instanceof Long l) {
                o.put(k, l);
            } else if (k.endsWith("_usdc")) {
                o.put(k, new BigDecimal(v.toString()));
            } else {
                o.put(k, v.toString());
            }
        }
        out.append(o.toString()).append('\n');
    }
}
