"""A small list of names: the training text of the character-level language models in this folder."""
WORDS = """emma olivia ava isabella sophia charlotte mia amelia harper evelyn abigail emily elizabeth mila ella
avery sofia camila aria scarlett victoria madison luna grace chloe penelope layla riley zoey nora lily eleanor
hannah lillian addison aubrey ellie stella natalie zoe leah hazel violet aurora savannah audrey brooklyn bella
claire skylar lucy paisley everly anna caroline nova genesis emilia kennedy samantha maya willow kinsley naomi
aaliyah elena sarah ariana allison gabriella alice madelyn cora ruby eva serenity autumn adeline hailey gianna
valentina isla eliana quinn nevaeh ivy sadie piper lydia alexa josephine emery julia delilah arianna vivian
kaylee sophie brielle madeline liam noah oliver elijah william james benjamin lucas henry alexander mason
michael ethan daniel jacob logan jackson levi sebastian mateo jack owen theodore aiden samuel joseph john david
wyatt matthew luke asher carter julian grayson leo jayden gabriel isaac lincoln anthony hudson dylan ezra""".split()
