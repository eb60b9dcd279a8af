package dev.tollgate.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.ledger.Conservation;
import dev.tollgate.escrow.settle.SettlementConfig;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.proxy.admin.SettlementRoutes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tollgate ledger statement|faucet|export}: read or credit the embedded ledger in a data directory. */
@Command(name = "ledger", mixinStandardHelpOptions = true, description = "Inspect or fund the embedded ledger.",
        subcommands = {LedgerCommand.StatementCommand.class, LedgerCommand.FaucetCommand.class,
                LedgerExportCommand.class})
final class LedgerCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "a subcommand is required: statement, faucet, export");
    }

    static SettlementService open(Path data) {
        if (!Files.isRegularFile(data.resolve("tollgate.db"))) {
            throw new dev.tollgate.proxy.config.ConfigException("no ledger in " + data + " (tollgate.db not found)");
        }
        return SettlementService.open(SettlementConfig.disabled(data).withFaucet(true), Clock.systemUTC(), null, up -> up);
    }

    @Command(name = "statement", mixinStandardHelpOptions = true,
            description = "Print an agent's statement, or every agent's, with the conservation check.")
    static final class StatementCommand implements Callable<Integer> {
        @Option(names = "--data", required = true, paramLabel = "DIR", description = "Data directory.")
        Path data;

        @Option(names = "--agent", paramLabel = "ID", description = "One agent (default: every agent).")
        String agent;

        @Option(names = "--json", description = "JSON instead of a table.")
        boolean json;

        @Override
        public Integer call() {
            if (PostPayStatement.print(data, agent, json)) {
                return 0; // A post-pay (Purple Flea) data directory: its views, without starting a settler.
            }
            try (SettlementService s = open(data)) {
                List<String> agents = agent != null ? List.of(agent) : s.ledger().agents();
                if (json) {
                    ObjectMapper m = new ObjectMapper();
                    ObjectNode root = m.createObjectNode();
                    ArrayNode list = root.putArray("statements");
                    agents.forEach(a -> list.add(SettlementRoutes.statementJson(s.statement(a))));
                    Conservation c = s.conservation();
                    root.putObject("conservation").put("minted_micros", c.mintedMicros())
                            .put("agent_balances_micros", c.agentBalancesMicros())
                            .put("escrow_balances_micros", c.escrowBalancesMicros())
                            .put("fees_micros", c.feesMicros()).put("conserved", c.holds());
                    System.out.println(root.toPrettyString());
                    return c.holds() ? 0 : 1;
                }
                return StatementPrinter.print(System.out, s, agents) ? 0 : 1;
            }
        }
    }

    @Command(name = "faucet", mixinStandardHelpOptions = true,
            description = "Credit the dev faucet's 1 USDC to an agent (once per agent).")
    static final class FaucetCommand implements Callable<Integer> {
        @Option(names = "--data", required = true, paramLabel = "DIR", description = "Data directory.")
        Path data;

        @Option(names = "--agent", required = true, paramLabel = "ID", description = "The agent to credit.")
        String agent;

        @Override
        public Integer call() throws Exception {
            Files.createDirectories(data);
            try (SettlementService s = SettlementService.open(SettlementConfig.disabled(data).withFaucet(true), Clock.systemUTC(), null,
                    up -> up)) {
                if (!s.faucet(agent)) {
                    System.err.println("tollgate: " + agent + " has already claimed the faucet");
                    return 1;
                }
                System.out.println("credited 1.000000 USDC to " + agent + "; balance "
                        + dev.tollgate.escrow.pricing.Micros.format(s.ledger().balance(agent)));
                return 0;
            }
        }
    }
}
