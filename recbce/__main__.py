from recbce.cli.app import main

main()
