from config.commands import DatabaseCommand
from lifecycle import services
from lifecycle.models import StrategyExecution


class Command(DatabaseCommand):
    help = "Counts of lifecycle strategies by type, trigger and state, and of executions by status."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="accepted for symmetry; this only reads")

    def handle(self, *args, **options):
        status = services.status_counts()
        self.stdout.write(f"{'type':<18}{'trigger':<12}{'total':>10}{'waiting':>10}{'fired':>10}")
        for row in status["strategies"]:
            self.stdout.write(f"{row['type']:<18}{row['trigger']:<12}{row['total']:>10}{row['waiting']:>10}"
                              f"{row['fired']:>10}")
        executions = status["executions"]
        by_status = ", ".join(f"{name} {executions.get(name, 0)}"
                              for name in StrategyExecution.Status.values)
        self.stdout.write(f"Executions: {by_status}. Due by time now, not yet fired: {status['due_by_time_now']}.")
