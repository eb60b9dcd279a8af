package dev.tollgate.proxy.admin;

import dev.tollgate.escrow.langfuse.PnlExport;
import dev.tollgate.escrow.settle.SettlementService;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.util.List;

/**
 * {@code GET /admin/v1/export?from=&to=&format=csv|jsonl}: one P&L row per request started in {@code [from, to)}
 * ({@link PnlExport}); {@code from}/{@code to} are dates, ISO instants or epoch milliseconds, both optional.
 *
 * <p>Threading: the admin executor (it reads the database).
 */
public final class ExportRoutes implements AdminRoutes {
    private final SettlementService settlement;

    public ExportRoutes(SettlementService settlement) {
        this.settlement = settlement;
    }

    @Override
    public AdminResponse handle(HttpMethod method, QueryStringDecoder uri, byte[] body) {
        if (!method.equals(HttpMethod.GET) || !uri.path().equals("/admin/v1/export")) {
            return null;
        }
        String format = first(uri, "format", "csv");
        if (!format.equals("csv") && !format.equals("jsonl")) {
            return AdminResponse.badRequest("'format' must be csv or jsonl.", "format");
        }
        long from;
        long to;
        try {
            from = PnlExport.parseTime(first(uri, "from", null), 0);
        } catch (IllegalArgumentException e) {
            return AdminResponse.badRequest("'from' is " + e.getMessage() + ".", "from");
        }
        try {
            to = PnlExport.parseTime(first(uri, "to", null), Long.MAX_VALUE);
        } catch (IllegalArgumentException e) {
            return AdminResponse.badRequest("'to' is " + e.getMessage() + ".", "to");
        }
        StringBuilder out = new StringBuilder();
        PnlExport.write(settlement.database(), settlement.config(), from, to,
                format.equals("csv") ? PnlExport.Format.CSV : PnlExport.Format.JSONL, out);
        return new AdminResponse(200, format.equals("csv") ? "text/csv; charset=utf-8" : "application/x-ndjson",
                out.toString());
    }

    private static String first(QueryStringDecoder uri, String name, String dflt) {
        List<String> v = uri.parameters().get(name);
        return v == null || v.isEmpty() ? dflt : v.get(0);
    }
}
