package dev.tollgate.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code tollgate} command. */
@Command(name = "tollgate", mixinStandardHelpOptions = true, version = "tollgate 0.1.0",
        description = "Streaming metering proxy for OpenAI-compatible inference servers, with escrow settlement.",
        subcommands = {ServeCommand.class, SimulateCommand.class, DemoCommand.class, LedgerCommand.class, HashKeyCommand.class,
                SettleCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line; returns the exit code. */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setParameterExceptionHandler((ex, a) -> {
            ex.getCommandLine().getErr().println("tollgate: " + ex.getMessage()
                    + " (see '" + ex.getCommandLine().getCommandName() + " --help')");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("tollgate: " + (ex.getMessage() == null ? ex.toString() : ex.getMessage()));
            return ex instanceof dev.tollgate.proxy.config.ConfigException ? 2 : 1;
        });
        return cl.execute(args);
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required: serve, simulate, demo");
    }
}
