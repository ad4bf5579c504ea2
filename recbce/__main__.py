from recbce.cli import main

main()
