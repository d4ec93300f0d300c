"""Word pools for generated mock tasks: title words and person names (split into train and held-out by the generator).

Plain English work vocabulary, written for this project; none is a word of a real mock task's title ("Important",
"Meeting", "Project", "Review", "Test", "Task" are left out so no generated title can equal a real one).
"""

from __future__ import annotations

TITLE_WORDS = """
abstract access account accounting action adapter address agenda agreement alarm album allocation analysis anchor
announcement annual answer app appeal appendix application appointment approval archive area argument arrival
article asset assignment audit author autumn award backlog backup badge baggage balance banner barcode baseline
basket batch battery beacon benchmark benefit bicycle bill billing binder birthday blanket blog blueprint board
boiler bonus booking booklet bookshelf boundary branch brand breakfast bridge brief briefing broadcast brochure
browser bucket budget buffer builder bulletin bundle business button cabinet cable cafe calendar camera campaign
campus canvas capacity caption carpet cart case cashflow catalog category ceiling ceremony certificate chair
channel chapter charity chart checklist checkout chemistry circle citation city claim class cleanup client clinic
clock closet cloud cluster coach code coffee collection column comment committee community company compass
compliance component concert conference config contact container content contest contract control cookbook
copy corner costume cottage council counter coupon course cover craft credit criteria crossing cupboard curtain
customer cycle dashboard database deadline debate decision delivery demo dentist deposit design desk detail
diagram diary dinner directory discount dispatch display document domain donation draft drawer driver dryer
edition editor election email engine entry envelope equipment errand estimate evaluation event exam exchange
exhibit expense experiment export fabric facility factory feedback fence festival field figure filing filter
finance firewall fitness fixture flight floor flyer folder forecast form forum fountain frame freight fridge
fundraiser furniture gadget gallery game garage garden gateway gear gift glossary goal grant graph greeting
grocery guest guide gutter habit hallway handbook hardware harvest header heater helmet helpdesk highlight
hiring holiday homework hosting hotel household housing idea image import incident index inspection install
insurance interview inventory invoice itinerary jacket journal journey kettle keyboard kitchen label ladder
lamp landing laptop launch laundry lawn lecture ledger lesson letter library license lighting limit lineup
listing loan lobby locker logbook logistics logo lunch magazine mailbox maintenance manual map market
marketing material meal meetup member memo menu mentor merger message metric migration milestone mirror mobile
model module monitor mortgage motion movie mural museum music network newsletter notebook notice novel
office onboarding opening order outline outreach oven package packing page painting pamphlet panel parcel
parking partner party passport password patch patent payment payroll pension permit pharmacy photo piano
picnic pipeline pitch plan planner plant platform playlist plumbing podcast policy portal portfolio poster
pottery presentation press pricing printer privacy prize procedure process product profile program promotion
proposal prototype purchase puzzle quarter query question quiz quote radio rally ranking receipt reception
recipe record recruiting refund register release reminder rental repair replacement request research
reservation resume retreat revenue roadmap robot roof roster route router routine safety salary sale sample
sandbox satellite schedule scholarship scooter screen script season section security seminar sensor server
service session shelf shelter shift shipment shopping shower signage signup sketch slide software speech
spreadsheet sprint stadium staff stage standup statement station storage story strategy studio subscription
summary summit supplier supply survey swimming symposium syllabus system table tablet talent target tax
teacher teamwork template tenant terrace theater ticket timeline timesheet toolkit tour tournament training
transcript transfer translation transport travel treasury trip trophy tutorial umbrella uniform update upgrade
upload utility vacation valve vendor venue video village visa visit volunteer voucher wallet wardrobe warehouse
warranty webinar website wedding welcome wellness whiteboard widget window winter wiring workbook workshop
yard yearbook zone
agile ancient annual bright brisk central classic clean cosmic crisp daily digital direct early easy final
first fresh friendly global golden grand green hidden honest initial inner internal joint junior key late
local lucky main major metro minor modern monthly morning mutual native new next night north open orange
outdoor overdue pending personal pilot prime private public quick quiet rapid rare regional remote rough
royal rural safe second secure senior shared short silent silver simple small smart social solid south
spare special spring steady summer sunny swift team technical third tiny total urgent vintage virtual
visual warm weekly west white wild wooden yellow young
approve arrange assemble book build calibrate call cancel check clean collect compile confirm connect
deliver deploy draft email file finish fix gather install inspect order organize pack paint plan polish
prepare print publish refresh register renew repair replace reply restock rewrite schedule scan
send ship sort submit tidy trim update upgrade verify wash water write
"""

FIRST_NAMES = """
aaron abby adrian aisha alan alba alice amara amir ana andre angela anika anton aria arjun asha astrid ayumi
beatriz ben bianca blake bruno caleb camila carlos carmen cecil chen chloe clara dana daniel dario david deepa
diego dmitri elena eli elif emil emma enzo erik esther ezra fatima felix fiona freya gabriel gemma greta hana
hassan hector helga hiro hugo ida ines ingrid irene isaac ivan jade jakob jana javier jin joao jonas jorge
julia kai kamala karim kate kenji kira lars laura leila leo lina lucas lucia luis mai malik marco maria mateo
maya mei mia milan mina nadia naomi nico nina noah nora olga omar oscar paula pedro priya rafael rania ravi
rosa ruth sami sara selin sofia sven tara teo thea theo tomas uma valentina vera victor wei yara yusuf zara
zoe
"""

LAST_NAMES = """
abbott adams ahmed alvarez anderson bauer becker bianchi brooks campbell chan chavez cohen costa cruz dahl
davies diaz dubois edwards eriksen evans fischer flores fontaine garcia gomez gonzalez graham gupta hansen
hart hoffmann holm hughes ibrahim ito jensen johansson kaur khan kim klein kowalski kumar lam larsen lee lopez
martin medina meyer miller moreau morris muller murphy nakamura nguyen novak okafor olsen ortiz park patel
perez petrov quinn ramos reyes ricci rivera rossi russo sanchez santos sato schmidt silva singh smith suzuki
tanaka taylor torres wagner walker wang weber wilson wong yamamoto young zhang
"""


def words(block: str) -> list[str]:
    """The distinct words of a block, in order."""
    return list(dict.fromkeys(block.split()))
