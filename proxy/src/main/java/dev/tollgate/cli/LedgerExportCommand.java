package dev.tollgate.cli;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.langfuse.PnlExport;
import dev.tollgate.escrow.settle.SettlementConfig;
import dev.tollgate.escrow.settle.SettlementConfigReader;
import dev.tollgate.proxy.config.ConfigLoader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tollgate ledger export}: one P&L row per request (trace id, account, worker, model, tokens, cost,
 * released, refunded, bonus, tip, fees, release status) as CSV or JSON lines, for reconciliation with Langfuse.
 */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Export one row per request (trace id, tokens, cost, payouts, fees) as CSV or JSON lines.")
final class LedgerExportCommand implements Callable<Integer> {
    @Option(names = "--data", required = true, paramLabel = "DIR", description = "Data directory.")
    Path data;

    @Option(names = "--from", paramLabel = "TIME", description = "Requests started at or after (2026-11-01, an ISO "
            + "instant or epoch ms).")
    String from;

    @Option(names = "--to", paramLabel = "TIME", description = "Requests started before.")
    String to;

    @Option(names = "--format", paramLabel = "csv|jsonl", defaultValue = "csv", description = "csv (default) or jsonl.")
    String format;

    @Option(names = "--config", paramLabel = "FILE",
            description = "The node's configuration, for the token cost at its prices (else that column is empty).")
    Path config;

    @Override
    public Integer call() {
        if (!format.equals("csv") && !format.equals("jsonl")) {
            throw new dev.tollgate.proxy.config.ConfigException("--format must be csv or jsonl, got " + format);
        }
        long f;
        long t;
        try {
            f = PnlExport.parseTime(from, 0);
            t = PnlExport.parseTime(to, Long.MAX_VALUE);
        } catch (IllegalArgumentException e) {
            throw new dev.tollgate.proxy.config.ConfigException(e.getMessage());
        }
        SettlementConfig prices = config == null ? SettlementConfig.disabled(data)
                : SettlementConfigReader.read(ConfigLoader.load(config).settlement(), data);
        if (!java.nio.file.Files.isRegularFile(data.resolve("tollgate.db"))) {
            throw new dev.tollgate.proxy.config.ConfigException("no ledger in " + data + " (tollgate.db not found)");
        }
        // The database alone: reading must not run a node's start-up recovery beside a running node.
        try (Database db = Database.open(data)) {
            PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
            PnlExport.write(db, prices, f, t,
                    format.equals("csv") ? PnlExport.Format.CSV : PnlExport.Format.JSONL, out);
            out.flush();
            return 0;
        }
    }
}
