from clicksift.cli import main

main()
