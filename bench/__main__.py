from bench.run import cli

cli()
