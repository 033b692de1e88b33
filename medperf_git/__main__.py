from medperf_git.cli.main import main

main()
